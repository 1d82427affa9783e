"""Step classes: machine, human, gateway, timer, webhook and message steps.

Steps can be declared in two styles, and both work everywhere:

- constructor arguments: ``Validate(name="validate", description="...")``;
- class attributes: ``class Validate(BaseMachineStep): name = "validate"``,
  then ``Validate()``.

``execute`` and the hooks may be ``async def`` or plain ``def``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from workflows_app.core import clock
from workflows_app.core.retry import RetryPolicy
from workflows_app.core.types import StepType

if TYPE_CHECKING:
    from workflows_app.core.context import WorkflowContext

__all__ = [
    "BaseHumanStep",
    "BaseMachineStep",
    "BaseStep",
    "Escalation",
    "ExclusiveGateway",
    "MessageStep",
    "ParallelGateway",
    "TimerStep",
    "WebhookStep",
]

_UNSET: Any = object()


class BaseStep:
    """The base of every step.

    Subclasses implement :meth:`execute`. :meth:`can_execute` is a guard (False
    skips the step); :meth:`on_success` and :meth:`on_failure` are hooks.
    """

    name: str = ""
    description: str = ""
    step_type: ClassVar[StepType] = StepType.MACHINE
    retry_policy: RetryPolicy | None = None
    """How to try the step again when it raises (None: it fails at once)."""
    timeout: timedelta | None = None
    """How long ``execute`` may run; longer fails the attempt with StepTimeoutError."""

    def __init__(self, name: str | None = None, description: str | None = None) -> None:
        if name is not None:
            self.name = name
        if description is not None:
            self.description = description
        if not self.name:
            raise TypeError(
                f"{type(self).__name__} needs a name: pass name=... or set the class attribute"
            )

    async def execute(self, context: WorkflowContext) -> Any:
        """Do the step's work and return its result."""
        raise NotImplementedError(f"Step {self.name} must implement execute()")

    async def can_execute(self, context: WorkflowContext) -> bool:
        """Return False to skip this step."""
        return True

    async def on_success(self, context: WorkflowContext, result: Any) -> None:
        """Run after :meth:`execute` returned."""

    async def on_failure(self, context: WorkflowContext, error: Exception) -> None:
        """Run after :meth:`execute` (or :meth:`on_success`) raised."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class BaseMachineStep(BaseStep):
    """A step that runs code without a person."""

    step_type: ClassVar[StepType] = StepType.MACHINE


@dataclass(frozen=True)
class Escalation:
    """What happens to a human step's task once it is overdue.

    Reassign it to ``assignee_id`` and/or ``assignee_group``, or give up on the
    step and go to step ``goto`` (an escalation edge: the task is canceled and the
    branch moves on there).
    """

    assignee_id: str | None = None
    assignee_group: str | None = None
    goto: str | None = None

    def __post_init__(self) -> None:
        reassigns = self.assignee_id is not None or self.assignee_group is not None
        if reassigns == (self.goto is not None):
            raise ValueError("an escalation either reassigns the task or names a step to goto")


class BaseHumanStep(BaseStep):
    """A step that waits for a person to submit a form.

    Assignment and deadlines come from class attributes or constructor
    arguments, and can be computed per instance by overriding the ``get_*``
    methods:

    - ``assignee_key``: the context key that holds the assignee's user id;
    - ``assignee_group``: the name of the group whose members may do the task;
    - ``due_in`` / ``reminder_in``: delays from the moment the task is created;
    - ``priority``: an integer, higher comes first in inboxes;
    - ``escalation``: an :class:`Escalation` applied once the task is overdue.

    With ``for_each`` the step is multi-instance (one task per item, see
    :mod:`workflows_app.core.multi_instance`): ``get_assignee``, ``get_assignee_group``,
    ``get_title`` and ``get_due_date`` then receive the task's item as a second
    argument, ``(context, item)``; overrides that take only ``(context)`` keep working.
    """

    step_type: ClassVar[StepType] = StepType.HUMAN
    title: str = ""
    form_schema: dict[str, Any] | None = None
    assignee_key: str | None = None
    assignee_group: str | None = None
    due_in: timedelta | None = None
    reminder_in: timedelta | None = None
    priority: int = 0
    escalation: Escalation | None = None
    for_each: str | Callable[[WorkflowContext], Any] | None = None
    """Make the step multi-instance: one task per item of this list (a context key, or a
    callable taking the context); see :mod:`workflows_app.core.multi_instance`."""
    sequential: bool = False
    """With ``for_each``: create the tasks one after another rather than all at once."""
    completion_condition: str | Callable[[Any], Any] | None = None
    """With ``for_each``: when the step is done before every task is answered (a safe
    expression such as ``"approved >= 2 or rejected >= 1"``, or a callable taking the
    :class:`~workflows_app.core.multi_instance.Progress`); None: when all are answered."""
    send_back_to: ClassVar[tuple[str, ...] | list[str]] = ()
    """The earlier steps (names) a task of this step may be sent back to for rework
    (none by default); see :mod:`workflows_app.core.send_back`."""
    exclude_completers_of: ClassVar[tuple[str, ...] | list[str]] = ()
    """Four-eyes: the earlier human steps (names) whose completers may not do this step's
    task (none by default); see :mod:`workflows_app.core.four_eyes`."""
    exclude_starter: ClassVar[bool] = False
    """Four-eyes: whether the person who started the instance may not do this step's task."""

    def __init__(
        self,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        form_schema: dict[str, Any] | None = _UNSET,
        assignee_key: str | None = _UNSET,
        *,
        assignee_group: str | None = _UNSET,
        due_in: timedelta | None = _UNSET,
        reminder_in: timedelta | None = _UNSET,
        priority: int = _UNSET,
        escalation: Escalation | None = _UNSET,
        for_each: str | Callable[[WorkflowContext], Any] | None = _UNSET,
        sequential: bool = _UNSET,
        completion_condition: str | Callable[[Any], Any] | None = _UNSET,
        exclude_completers_of: list[str] = _UNSET,
        exclude_starter: bool = _UNSET,
        send_back_to: list[str] = _UNSET,
    ) -> None:
        super().__init__(name, description)
        if title is not None:
            self.title = title
        for attribute, value in (
            ("form_schema", form_schema),
            ("assignee_key", assignee_key),
            ("assignee_group", assignee_group),
            ("due_in", due_in),
            ("reminder_in", reminder_in),
            ("priority", priority),
            ("escalation", escalation),
            ("for_each", for_each),
            ("sequential", sequential),
            ("completion_condition", completion_condition),
            ("exclude_completers_of", exclude_completers_of),
            ("exclude_starter", exclude_starter),
            ("send_back_to", send_back_to),
        ):
            if value is not _UNSET:
                setattr(self, attribute, value)
        if not self.title:
            self.title = self.name.replace("_", " ").title()

    async def execute(self, context: WorkflowContext) -> Any:
        """Return what was submitted for this step, if anything."""
        return context.get(f"{self.name}_result")

    async def get_assignee(self, context: WorkflowContext, item: Any = None) -> str | None:
        """Return the user id the task is assigned to (from ``assignee_key``)."""
        if self.assignee_key:
            value = context.get(self.assignee_key)
            return None if value is None else str(value)
        return None

    async def get_assignee_group(self, context: WorkflowContext, item: Any = None) -> str | None:
        """Return the group whose members may complete the task."""
        return self.assignee_group

    async def get_title(self, context: WorkflowContext, item: Any = None) -> str:
        """Return the task's title."""
        return self.title

    async def get_description(self, context: WorkflowContext) -> str:
        """Return the task's description."""
        return self.description

    async def get_due_date(self, context: WorkflowContext, item: Any = None) -> datetime | None:
        """Return when the task is due, or None."""
        return clock.utcnow() + self.due_in if self.due_in is not None else None

    async def get_reminder_date(self, context: WorkflowContext) -> datetime | None:
        """Return when to remind the assignee, or None."""
        return clock.utcnow() + self.reminder_in if self.reminder_in is not None else None

    async def validate_submission(self, data: dict[str, Any]) -> dict[str, list[str]] | None:
        """Check submitted data beyond the form schema.

        Return a mapping of field path to messages for each problem, or None.
        """
        return None


class ExclusiveGateway(BaseStep):
    """Route to the step whose name ``condition`` returns (or to each of a list)."""

    step_type: ClassVar[StepType] = StepType.GATEWAY

    def __init__(
        self,
        name: str | None = None,
        condition: Callable[[WorkflowContext], str | list[str]] | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(name, description)
        if condition is not None:
            self.condition = condition
        if getattr(self, "condition", None) is None:
            raise TypeError(f"{type(self).__name__} {self.name!r} needs a condition")

    async def execute(self, context: WorkflowContext) -> str | list[str]:
        """Return the name (or names) of the step(s) to go to next."""
        return self.condition(context)


class ParallelGateway(BaseStep):
    """Fan out to every step named in ``branches``."""

    step_type: ClassVar[StepType] = StepType.GATEWAY
    branches: list[str] = []

    def __init__(
        self,
        name: str | None = None,
        branches: list[str] | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(name, description)
        self.branches = list(branches if branches is not None else self.branches)

    async def execute(self, context: WorkflowContext) -> list[str]:
        """Return the branches to run."""
        return list(self.branches)


class TimerStep(BaseStep):
    """Wait for a duration, or until a moment, before the branch moves on.

    ``duration`` is a ``timedelta`` or a callable taking the context; ``until``
    (instead) a callable returning an aware ``datetime``. The wait is durable
    with the persistent engine: the due time is stored and a worker fires it,
    even after restarts.
    """

    step_type: ClassVar[StepType] = StepType.TIMER
    duration: timedelta | Callable[[WorkflowContext], timedelta] = timedelta(0)
    until: Callable[[WorkflowContext], datetime] | None = None

    def __init__(
        self,
        name: str | None = None,
        duration: timedelta | Callable[[WorkflowContext], timedelta] | None = None,
        description: str | None = None,
        *,
        until: Callable[[WorkflowContext], datetime] | None = None,
    ) -> None:
        super().__init__(name, description)
        if duration is not None:
            self.duration = duration
        if until is not None:
            self.until = until

    def get_duration(self, context: WorkflowContext) -> timedelta:
        """Return how long to wait."""
        duration = self.duration
        return duration(context) if callable(duration) else duration

    def get_due_date(self, context: WorkflowContext, now: datetime) -> datetime:
        """Return when the timer fires, for a timer started at ``now``."""
        if self.until is not None:
            return self.until(context)
        return now + self.get_duration(context)

    async def execute(self, context: WorkflowContext) -> None:
        """Sleep for the duration (when the step is run directly, outside an engine)."""
        await asyncio.sleep(self.get_duration(context).total_seconds())


class WebhookStep(BaseStep):
    """Wait for an outside system to deliver data, then store it under ``callback_key``.

    When a branch reaches the step, the engine creates an unguessable callback
    token, stores it in the context under ``token_key`` (default
    ``"<name>_callback_token"``) and waits; ``engine.complete_webhook(token,
    payload)`` (or the REST callback route) resumes the branch with the payload.
    """

    step_type: ClassVar[StepType] = StepType.WEBHOOK
    callback_key: str = "webhook_data"
    token_key: str | None = None

    def get_token_key(self) -> str:
        """Return the context key that receives the callback token."""
        return self.token_key or f"{self.name}_callback_token"

    def __init__(
        self,
        name: str | None = None,
        callback_key: str | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(name, description)
        if callback_key is not None:
            self.callback_key = callback_key

    async def execute(self, context: WorkflowContext) -> Any:
        """Return the delivered payload."""
        return context.get(self.callback_key)


class MessageStep(BaseStep):
    """Wait for a message called ``message`` whose correlation key equals the value of the
    context key ``correlation_key``, then store its payload under ``payload_key``.

    The value is read once, when a branch reaches the step (it must be a string, a
    number or a boolean); ``engine.publish_message(message, value, payload)`` delivers
    the payload, stored in the context under ``payload_key`` (default: the step's
    name). See docs/messages.rst for who receives a message when several wait.
    """

    step_type: ClassVar[StepType] = StepType.MESSAGE
    message: str = ""
    correlation_key: str = ""
    payload_key: str | None = None

    def __init__(
        self,
        name: str | None = None,
        message: str | None = None,
        correlation_key: str | None = None,
        description: str | None = None,
        *,
        payload_key: str | None = None,
    ) -> None:
        super().__init__(name, description)
        if message is not None:
            self.message = message
        if correlation_key is not None:
            self.correlation_key = correlation_key
        if payload_key is not None:
            self.payload_key = payload_key
        if not self.message or not self.correlation_key:
            raise TypeError(f"MessageStep {self.name!r} needs a message and a correlation_key")

    def get_payload_key(self) -> str:
        """Return the context key that receives the message's payload."""
        return self.payload_key or self.name

    async def execute(self, context: WorkflowContext) -> Any:
        """Return the delivered payload."""
        return context.get(self.get_payload_key())
