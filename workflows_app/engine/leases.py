"""Leases: which drive may run an instance, and for how long.

One drive at a time runs an instance: an inline call, a worker thread or a Celery task.
It holds the instance under a lease, columns of the instance row: ``lease_owner`` (the
drive's id), ``lease_expires_at`` and ``failed_drives``. The rules, all here:

- **Take.** A call that changes an instance (a start, a completed task, a retry) takes
  the lease in inline mode when nobody holds a live one, and runs the instance on
  itself (:func:`take`). In worker mode it never does: a worker takes it
  (:func:`take_over`).
- **Renew.** Every commit of a drive writes its lease again for ``LEASE_SECONDS``; a
  worker also renews the leases of the drives it runs every third of that
  (:func:`renew`). A renewal that finds the row names another owner loses the lease
  (:class:`Hold`).
- **Commit.** A drive commits only on a lease it holds. Its commit saves the state if
  the instance is still at the ``lock_version`` of the drive's own last write (its
  claim or its last commit); every takeover writes a new ``lock_version``, so the
  commit of a drive whose lease was taken over writes nothing. When another change
  came in between (a task completed), the commit locks the row and goes on only if
  the row still names the drive (:func:`holds`); otherwise the drive drops its results
  and ends.
- **Stop.** A drive starts no step on a lease that is running out: once half the
  lease has passed since it was last renewed (a worker's heartbeat could not reach the
  database, or the drive has no heartbeat), the drive commits first, which renews it
  (:meth:`Hold.renewal_due`). A commit that cannot reach the database is tried again on
  new connections until the lease lapses (:meth:`Hold.lapsed`); then the drive stops,
  and the instance is left to the next worker. A drive whose lease was taken over (its
  heartbeat or its commit found another owner) stops at once and drops its results.
- **Release.** The commit that leaves nothing to run writes no owner
  (:func:`keep_or_release`), and so does the commit that fails the instance.
- **Take over.** A lease that lapsed belongs to a drive that died: the next worker
  takes the instance, and the branches the dead drive had claimed run again.
- **Give up.** Each takeover of a lapsed lease counts one more failed drive
  (``failed_drives``); every other write of a lease (a drive's commit, a release, a
  new lease) sets the count to 0. The takeover that counts ``MAX_DRIVE_ATTEMPTS``
  failed drives fails the instance instead of running it again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from workflows_app import conf
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.models import Token, WorkflowInstanceData
from workflows_app.engine import semantics
from workflows_app.models import WorkflowInstanceModel

__all__ = [
    "KEEP",
    "Hold",
    "Lease",
    "columns",
    "holds",
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
    the branch that this call claimed to run first, and the count of failed drives to
    write with the lease."""

    def __init__(self, owner: Any, claimed: Token | None, failed_drives: int = 0) -> None:
        self.owner = owner
        self.claimed = claimed
        self.failed_drives = failed_drives

    @property
    def runs_here(self) -> bool:
        """Whether the call that made the change runs the instance on."""
        return self.owner is not KEEP and self.owner is not None


class Hold:
    """The lease of one drive of this process, as the process knows it.

    The drive's commits and a worker's heartbeat renew it; a renewal that finds that the
    row names another owner loses it. Times are ``time.monotonic()`` seconds.
    """

    def __init__(self, owner: str, instance_id: Any, written: float | None = None) -> None:
        self.owner = owner
        self.instance_id = instance_id
        self.seconds = conf.get_settings().LEASE_SECONDS
        self.expires = 0.0
        self.lost = False
        self.renewed(time.monotonic() if written is None else written)

    def renewed(self, at: float) -> None:
        """Record that the lease was written (renewed) by a statement sent at ``at``."""
        self.expires = max(self.expires, at + self.seconds)
        self.lost = False

    def lose(self) -> None:
        """Record that the row no longer names this drive (taken over, or released)."""
        self.lost = True

    def renewal_due(self) -> bool:
        """Whether the drive must commit, and so renew the lease, before it starts a step:
        half the lease has passed since it was last renewed, or it was lost. (A heartbeat
        renews it every third: a working one never makes a drive commit early.)"""
        return self.lost or self.expires - time.monotonic() < self.seconds / 2

    def lapsed(self) -> bool:
        """Whether the lease may have lapsed (or was lost): the drive must not go on."""
        return self.lost or time.monotonic() >= self.expires


def inline() -> bool:
    """Whether calls run the instances they change (``EXECUTION_MODE = "inline"``)."""
    return conf.get_settings().EXECUTION_MODE == "inline"


def new_owner() -> str:
    return uuid.uuid4().hex


def worker_owner(worker_id: str) -> str:
    """A lease owner for a drive of the worker ``worker_id`` (it fits the column)."""
    return f"{worker_id}/{uuid.uuid4().hex[:12]}"[-64:]


def columns(owner: Any, now: datetime, failed_drives: int = 0) -> dict[str, Any]:
    """The lease columns that writing ``owner`` sets (none for ``KEEP``); a takeover
    passes the count of ``failed_drives`` it made, every other write sets it to 0."""
    if owner is KEEP:
        return {}
    seconds = conf.get_settings().LEASE_SECONDS
    return {
        "lease_owner": owner,
        "lease_expires_at": None if owner is None else now + timedelta(seconds=seconds),
        "failed_drives": 0 if owner is None else failed_drives,
    }


def is_live(row: Any, now: datetime) -> bool:
    """Whether a drive holds the instance ``row`` under a lease that has not lapsed."""
    return row.lease_owner is not None and row.lease_expires_at > now


def holds(row: Any, owner: str) -> bool:
    """Whether the drive ``owner`` may still commit to the instance ``row``, which the
    caller holds locked: the row names it (a lapsed lease that nobody took over is
    still its own)."""
    return row.lease_owner == owner


def take(
    row: Any,
    state: WorkflowInstanceData,
    definition: WorkflowDefinition,
    events: list[semantics.Event],
    here: bool = False,
) -> Lease:
    """Decide who runs the instance on after a change: this call, or whoever holds it.

    In inline mode (or with ``here``, in any mode) this call takes the instance when no
    live lease is held on it (a lapsed lease is taken over) and claims the next step.
    Otherwise the lease is left as it is: its holder, or a worker, runs the ready steps.
    """
    if is_live(row, semantics.utcnow()) or not (here or inline()):
        return Lease(KEEP, None)
    failed = take_over(row, state, events)
    if failed is None:
        return Lease(None, None)  # the instance failed: its drives kept failing
    claimed = semantics.claim_next(state, definition, events)
    if claimed is None and semantics.next_ready(state) is None:
        return Lease(None, None)  # nothing to run: no lease
    return Lease(new_owner(), claimed, failed)


def take_over(row: Any, state: WorkflowInstanceData, events: list[semantics.Event]) -> int | None:
    """Take an instance whose lease is free or lapsed: what the previous drive claimed
    runs again.

    Return the count of failed drives to write with the new lease; or None when the
    count reaches ``MAX_DRIVE_ATTEMPTS``: then the instance is failed instead, and
    ``events`` has the failure's events.
    """
    if row.lease_owner is None:
        semantics.reclaim(state)
        return 0
    failed = row.failed_drives + 1
    limit = conf.get_settings().MAX_DRIVE_ATTEMPTS
    extra = {"action": "reclaim", "instance_id": str(row.pk), "failed_drives": failed}
    if failed >= limit:
        running = ", ".join(f"'{t.step}'" for t in state.tokens if t.state == semantics.RUNNING)
        times = "once" if failed == 1 else f"{failed} times in a row"
        error = (
            f"The drive of this instance failed {times}"
            f"{f' while running {running}' if running else ''}: each time the process "
            "running it died or lost its lease before committing anything. It is not tried "
            f"again (WORKFLOWS['MAX_DRIVE_ATTEMPTS'] = {limit}); retry the instance once the "
            "cause is fixed."
        )
        logger.error("instance %s: %s", row.pk, error, extra=extra)
        events.extend(semantics.fail_drive(state, error, None))
        return None
    logger.warning(
        "instance %s: lease of %s lapsed (failed drive %d of %d), running its steps again",
        row.pk,
        row.lease_owner,
        failed,
        limit,
        extra=extra,
    )
    semantics.reclaim(state)
    return failed


def keep_or_release(state: WorkflowInstanceData, claimed: Token | None, owner: str) -> Any:
    """Return ``owner`` while the drive goes on, None when this commit leaves nothing to run."""
    return owner if claimed is not None or semantics.next_ready(state) is not None else None


def renew(using: str, leases: Iterable[Hold]) -> None:
    """Extend ``leases`` whose rows still name their drives; the others are lost."""
    seconds = conf.get_settings().LEASE_SECONDS
    for hold in leases:
        began = time.monotonic()
        expires = semantics.utcnow() + timedelta(seconds=seconds)
        renewed = (
            WorkflowInstanceModel.objects.using(using)
            .filter(pk=hold.instance_id, lease_owner=hold.owner)
            .update(lease_expires_at=expires)
        )
        if renewed:
            hold.renewed(began)
        else:
            hold.lose()
