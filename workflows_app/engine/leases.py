"""Leases: which drive may run an instance, and for how long.

One drive at a time runs an instance: an inline call, a worker thread or a Celery task.
It holds the instance under a lease, two columns of the instance row: ``lease_owner``
(the drive's id) and ``lease_expires_at``. The rules, all here:

- **Take.** A call that changes an instance (a start, a completed task, a retry) takes
  the lease in inline mode when nobody holds a live one, and runs the instance on
  itself (:func:`take`). In worker mode it never does: a worker takes it
  (:func:`take_over`).
- **Renew.** Every commit of a drive writes its lease again for ``LEASE_SECONDS``; a
  worker also renews the leases of the drives it runs every third of that
  (:func:`renew`).
- **Release.** The commit that leaves nothing to run writes no owner
  (:func:`keep_or_release`).
- **Take over.** A lease that lapsed belongs to a drive that died: the next worker
  takes the instance, and the branches the dead drive had claimed run again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from workflows_app import conf
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.models import Token, WorkflowInstanceData
from workflows_app.engine import semantics
from workflows_app.models import WorkflowInstanceModel

__all__ = [
    "KEEP",
    "Lease",
    "columns",
    "inline",
    "is_live",
    "keep_or_release",
    "new_owner",
    "renew",
    "take",
    "take_over",
    "worker_owner",
]

logger = logging.getLogger(__name__)

KEEP: Any = object()
"""A lease owner that means: leave the lease columns as they are."""


class Lease:
    """Who runs an instance on after a change (``KEEP``: whoever holds it; None: nobody),
    and the branch that this call claimed to run first."""

    def __init__(self, owner: Any, claimed: Token | None) -> None:
        self.owner = owner
        self.claimed = claimed

    @property
    def runs_here(self) -> bool:
        """Whether the call that made the change runs the instance on."""
        return self.owner is not KEEP and self.owner is not None


def inline() -> bool:
    """Whether calls run the instances they change (``EXECUTION_MODE = "inline"``)."""
    return conf.get_settings().EXECUTION_MODE == "inline"


def new_owner() -> str:
    return uuid.uuid4().hex


def worker_owner(worker_id: str) -> str:
    """A lease owner for a drive of the worker ``worker_id`` (it fits the column)."""
    return f"{worker_id}/{uuid.uuid4().hex[:12]}"[-64:]


def columns(owner: Any, now: datetime) -> dict[str, Any]:
    """The lease columns that writing ``owner`` sets (none for ``KEEP``)."""
    if owner is KEEP:
        return {}
    seconds = conf.get_settings().LEASE_SECONDS
    return {
        "lease_owner": owner,
        "lease_expires_at": None if owner is None else now + timedelta(seconds=seconds),
    }


def is_live(row: Any, now: datetime) -> bool:
    """Whether a drive holds the instance ``row`` under a lease that has not lapsed."""
    return row.lease_owner is not None and row.lease_expires_at > now


def take(
    row: Any,
    state: WorkflowInstanceData,
    definition: WorkflowDefinition,
    events: list[semantics.Event],
) -> Lease:
    """Decide who runs the instance on after a change: this call, or whoever holds it.

    In inline mode this call takes the instance when no live lease is held on it (a
    lapsed lease's branches are made ready again) and claims the next step. Otherwise
    the lease is left as it is: its holder, or a worker, runs the ready steps.
    """
    if is_live(row, semantics.utcnow()) or not inline():
        return Lease(KEEP, None)
    semantics.reclaim(state)  # branches a dead drive claimed run again
    claimed = semantics.claim_next(state, definition, events)
    if claimed is None and semantics.next_ready(state) is None:
        return Lease(None, None)  # nothing to run: no lease
    return Lease(new_owner(), claimed)


def take_over(row: Any, state: WorkflowInstanceData) -> None:
    """Take an instance whose lease is free or lapsed: what the previous drive claimed
    runs again."""
    if row.lease_owner is not None:
        logger.warning(
            "instance %s: lease of %s lapsed, running its steps again",
            row.pk,
            row.lease_owner,
            extra={"action": "reclaim", "instance_id": str(row.pk)},
        )
    semantics.reclaim(state)


def keep_or_release(state: WorkflowInstanceData, claimed: Token | None, owner: str) -> Any:
    """Return ``owner`` while the drive goes on, None when this commit leaves nothing to run."""
    return owner if claimed is not None or semantics.next_ready(state) is not None else None


def renew(using: str, held: dict[str, Any]) -> None:
    """Extend the leases of the drives in ``held`` (owner -> instance id) that still hold."""
    expires = semantics.utcnow() + timedelta(seconds=conf.get_settings().LEASE_SECONDS)
    for owner, instance_id in held.items():
        WorkflowInstanceModel.objects.using(using).filter(pk=instance_id, lease_owner=owner).update(
            lease_expires_at=expires
        )
