"""The runtime record of a workflow instance."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from workflows_app.core.context import WorkflowContext
from workflows_app.core.types import PublishOutcome, WorkflowStatus

__all__ = ["PublishResult", "Token", "WorkflowInstanceData"]


@dataclass
class Token:
    """A position of a running instance: one live branch at one step.

    ``state`` is ``"ready"`` (the step is to run), ``"running"`` (claimed by a
    drive), ``"waiting"`` (a human step waits for its task), ``"joining"``
    (arrived at a join that waits for other branches), ``"scheduled"`` (to run
    again at ``due_at``: a retry), ``"sleeping"`` (a timer that fires at
    ``due_at``) or ``"failed"`` (the step failed; ``retry`` makes it ready).
    """

    step: str
    state: str = "ready"
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    attempt: int = 1
    due_at: datetime | None = None  # for "scheduled" (a retry) and "sleeping" (a timer)
    started_at: datetime | None = None  # when a timer started, or a wait began
    sent_back: dict[str, Any] | None = None
    """For a branch sent back to its step for rework: from which step, why, by whom, when,
    and to whom its task goes (``assignee``); the branch's next token has none."""
    items: list[Any] | None = None
    """For a branch waiting at a multi-instance human step: the items, one task each, as
    they were when the branch reached the step."""
    compensation: bool = False
    """(added) The branch undoes its completed step (runs the step's ``compensate``) instead
    of running it: see :mod:`workflows_app.core.compensation`."""

    def child(self, step: str) -> Token:
        """Return the token this branch continues with at ``step``.

        Its id is derived from this token's id, so that applying the same step
        result twice (an engine re-applying a batch after a conflict) yields the
        same tokens.
        """
        return Token(step, id=uuid.uuid5(uuid.NAMESPACE_OID, f"{self.id}/{step}").hex)

    def to_dict(self) -> dict[str, Any]:
        """Return the token as JSON-serialisable data."""
        data: dict[str, Any] = {"id": self.id, "step": self.step, "state": self.state}
        if self.attempt != 1:
            data["attempt"] = self.attempt
        if self.due_at is not None:
            data["due_at"] = self.due_at.isoformat()
        if self.started_at is not None:
            data["started_at"] = self.started_at.isoformat()
        if self.sent_back is not None:
            data["sent_back"] = self.sent_back
        if self.items is not None:
            data["items"] = self.items
        if self.compensation:
            data["compensation"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Token:
        """Rebuild a token from :meth:`to_dict` output."""
        due_at, started_at = data.get("due_at"), data.get("started_at")
        return cls(
            step=data["step"],
            state=data["state"],
            id=data["id"],
            attempt=data.get("attempt", 1),
            due_at=datetime.fromisoformat(due_at) if due_at else None,
            started_at=datetime.fromisoformat(started_at) if started_at else None,
            sent_back=data.get("sent_back"),
            items=data.get("items"),
            compensation=data.get("compensation", False),
        )


@dataclass
class WorkflowInstanceData:
    """The state of one workflow instance, as the engines return it.

    ``tokens`` (an addition to upstream's fields) holds the live branches; it
    is what lets parallel branches, joins and human steps resume exactly.
    """

    id: UUID
    workflow_name: str
    workflow_version: str
    status: WorkflowStatus
    context: WorkflowContext
    current_step: str | None
    started_at: datetime
    completed_at: datetime | None = None
    error: str | None = None
    workflow_id: UUID | None = None
    tokens: list[Token] = field(default_factory=list)


@dataclass(frozen=True)
class PublishResult:
    """What publishing a message did: ``outcome`` and, when it was delivered or started
    an instance, that ``instance_id``; ``expires_at`` for a buffered message. A message
    buffered and then delivered before the call returns is ``delivered``; without a
    ``message_id``, its receiver is not known then (``instance_id`` is None)."""

    outcome: PublishOutcome
    instance_id: UUID | None = None
    expires_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": str(self.outcome),
            "instance_id": None if self.instance_id is None else str(self.instance_id),
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
        }
