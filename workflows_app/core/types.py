"""Enumerations and type aliases of the workflow language.

Values are lowercase strings, stored as such in the database and sent as such
on the wire.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

if TYPE_CHECKING:
    from workflows_app.core.protocols import Step, Workflow

__all__ = [
    "Context",
    "DelegationState",
    "MessageStatus",
    "PublishOutcome",
    "StepStatus",
    "StepT",
    "StepType",
    "T",
    "TaskStatus",
    "WorkflowStatus",
    "WorkflowT",
]


class StepType(StrEnum):
    """What kind of work a step does."""

    MACHINE = "machine"
    HUMAN = "human"
    WEBHOOK = "webhook"
    TIMER = "timer"
    GATEWAY = "gateway"
    MESSAGE = "message"
    """(added) Waits for a message correlated by business key (:class:`~workflows_app.MessageStep`)."""
    SUBWORKFLOW = "subworkflow"
    """(added) Runs other workflow instances and waits for them (:class:`~workflows_app.SubworkflowStep`)."""
    COMPENSATION = "compensation"
    """(added) Not a step of its own: the run of a machine step's ``compensate`` (the
    ``step_type`` of its execution rows)."""


class StepStatus(StrEnum):
    """The state of one step execution."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"


class WorkflowStatus(StrEnum):
    """The state of a workflow instance."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    SUSPENDED = "suspended"
    """Held by an operator: nothing runs and its tasks are on hold until it is resumed."""

    @property
    def is_terminal(self) -> bool:
        """Return True for completed, failed and canceled."""
        return self in _TERMINAL


class TaskStatus(StrEnum):
    """The state of a human task."""

    PENDING = "pending"
    ON_HOLD = "on_hold"
    """Its instance failed: the task waits, and is pending again when the instance is retried."""
    COMPLETED = "completed"
    CANCELED = "canceled"
    """Its instance was canceled, or an escalation moved the instance past its step."""


class DelegationState(StrEnum):
    """Where a delegated task stands (see :mod:`workflows_app.core.delegation`)."""

    DELEGATED = "delegated"
    """The delegate holds the task and may answer a draft (``resolve``)."""
    RESOLVED = "resolved"
    """The delegate answered: the task is back with its owner, the draft shown."""


_TERMINAL = frozenset({WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED})

Context: TypeAlias = dict[str, Any]
T = TypeVar("T")
StepT = TypeVar("StepT", bound="Step[Any]")
WorkflowT = TypeVar("WorkflowT", bound="Workflow")


class MessageStatus(StrEnum):
    """The state of a published message that was kept (see docs/messages.rst)."""

    BUFFERED = "buffered"
    """No instance waited for it: kept until its ttl runs out or an instance waits for it."""
    DELIVERED = "delivered"
    """Received by an instance (kept while its ``message_id`` is remembered)."""


class PublishOutcome(StrEnum):
    """What publishing a message did."""

    DELIVERED = "delivered"
    """A waiting instance received it."""
    STARTED = "started"
    """It started a new instance of a workflow with ``start_on_message``."""
    BUFFERED = "buffered"
    """No instance waited: it is kept for its ttl."""
    DUPLICATE = "duplicate"
    """A message with the same ``message_id`` is known: this one was ignored."""
    DROPPED = "dropped"
    """No instance waited and it had no ttl (or a started instance still runs for its key)."""
