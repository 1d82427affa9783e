"""The drive loop: run an instance's ready branches under a lease, and commit what they did.

A drive is what an inline call, a worker or a Celery task does once it holds an
instance's lease (:mod:`.leases`). It runs outside any transaction: step code never
runs while a row is locked. What happens is kept in a batch (:mod:`.batches`) and
committed together: the results of consecutive machine steps, and the human and
webhook steps reached (parked). A batch is committed when a human step was parked, when
nothing is left to run, and at least every ``CHECKPOINT_INTERVAL`` seconds. The lease is
renewed at each commit and given up by the commit that leaves nothing to run. A process
that dies loses the results since its last commit, never part of one, and leaves its
branch claimed under its lease; once the lease lapses a worker takes the instance over
and runs those steps again (at-least-once steps, exactly-once transitions).

What may go wrong besides a step's own code (which makes a failed step, see
:mod:`.runner`):

- The database connection breaks, or a lock cannot be had (:data:`.store.TRANSIENT_ERRORS`):
  a commit is tried again on a new connection until the lease lapses; then the error
  is raised and the instance is left to the next worker (see :mod:`.leases`).
- Anything else that raises in a drive (the engine's own code, a step's data that cannot
  be copied): the instance fails with that error, and the lease is released
  (:meth:`Drive.fail`). The results since the last commit are dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from uuid import UUID

from django.db import transaction

from workflows_app import conf
from workflows_app.core import subworkflows as subworkflow_rules
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import WorkflowValidationError
from workflows_app.core.models import Token, WorkflowInstanceData
from workflows_app.engine import (
    batches,
    child_compensation,
    compensation,
    four_eyes,
    leases,
    messages,
    multi_instance,
    runner,
    semantics,
    subworkflows,
)
from workflows_app.engine.effects import Effects
from workflows_app.engine.store import TRANSIENT_ERRORS, Store, Transition
from workflows_app.models import WorkflowInstanceModel

__all__ = ["Drive"]

logger = logging.getLogger("workflows_app.engine.persistent")

# Seconds before a commit that failed on the connection is tried again: doubled each
# time, up to the last.
_BACKOFF = (0.1, 0.2, 0.4, 0.8, 1.0)


class Drive:
    """Runs instances with ``store``'s rows and ``effects``' commits; ``engine`` is handed
    to step groups (they run their members through it)."""

    def __init__(self, store: Store, effects: Effects, engine: Any) -> None:
        self.store = store
        self.effects = effects
        self.engine = engine

    def run_on(
        self,
        instance_id: UUID,
        definition: WorkflowDefinition,
        state: WorkflowInstanceData,
        lease: leases.Lease,
        version: int,
    ) -> WorkflowInstanceData:
        """After a change committed at ``version``: run the instance if ``lease`` says this
        call does, and return its state."""
        if not lease.runs_here:
            return state  # handed off by the transaction that committed the change
        return self.run(instance_id, definition, state, lease.claimed, version, lease.owner)

    def run(
        self,
        instance_id: UUID,
        definition: WorkflowDefinition,
        state: WorkflowInstanceData,
        claimed: Token | None,
        version: int,
        owner: str,
        hold: leases.Hold | None = None,
    ) -> WorkflowInstanceData:
        """Run the instance's ready branches under the lease ``owner``, starting with the
        branch ``claimed`` (if any), from the state saved at ``version``.

        ``hold`` is the lease as this process knows it, when a worker's heartbeat renews
        it; without one the drive renews it by committing. An error outside the steps'
        own code fails the instance (see the module's docstring).
        """
        interval = conf.get_settings().CHECKPOINT_INTERVAL
        hold = hold if hold is not None else leases.Hold(owner, instance_id)
        batch: batches.Batch | None = batches.Batch(instance_id, version, hold)
        try:
            while batch is not None:
                if claimed is None:
                    events, fired = semantics.wake(state, definition, semantics.utcnow())
                    batch.events.extend(events)
                    for token, outcome in fired:
                        step = definition.steps[token.step]
                        batch.add(token, outcome, batches.NO_CHANGES, step, fired=True)
                    token = semantics.next_ready(state)
                    if token is None:
                        if not batch.items:
                            return state
                        state, claimed, batch = self.flush(definition, state, batch)
                        continue
                    step = definition.steps.get(token.step)
                    if token.compensation and step is not None:
                        batch.events.extend(semantics.enter(state, token, step))
                        claimed = token
                    elif step is not None and semantics.is_timer(step):
                        batch.sleep(state, definition, token, step)
                    elif step is None or semantics.waits(step):
                        state, claimed, batch = self._park(definition, state, batch, token, step)
                    else:
                        batch.events.extend(semantics.enter(state, token, step))
                        claimed = token
                    continue
                if hold.lost or (batch.items and hold.renewal_due()):
                    # A step must not outlive the lease: commit first, which renews it (or
                    # finds that it was taken over, and ends the drive).
                    state, claimed, batch = self.flush(definition, state, batch, claimed)
                    continue
                step = definition.steps[claimed.step]
                if claimed.compensation:
                    outcome = child_compensation.run(step, state.context, self.engine)
                else:
                    outcome = runner.run_step(step, state.context, self.engine)
                outcome, changes = semantics.keep_storable(
                    claimed.step, outcome, state.context, conf.get_settings().JSON_MAX_DEPTH
                )
                batch.add(claimed, outcome, changes, step)
                if logger.isEnabledFor(logging.INFO):
                    batches.log_step(state, claimed, outcome)
                batch.events.extend(compensation.advance(state, definition, claimed, outcome))
                claimed = semantics.claim_next(state, definition, batch.events)
                # Otherwise the top of the loop parks the human steps reached into this
                # batch and commits it when nothing is left to run.
                if time.monotonic() - batch.opened >= interval:
                    state, claimed, batch = self.flush(definition, state, batch, claimed)
        except TRANSIENT_ERRORS:
            raise  # the database's trouble, not the instance's: the lease lapses
        except Exception as exc:
            return self._fail_or_raise(instance_id, owner, exc, claimed)
        return state

    def fail(
        self,
        instance_id: UUID,
        owner: str | None,
        exc: Exception,
        token_id: str | None = None,
    ) -> WorkflowInstanceData:
        """Fail the instance because its drive raised ``exc`` outside any step's code, and
        release the lease; return the instance's state.

        The failed branch is ``token_id`` (the one being run) if it is still live. This
        happens only while the drive ``owner`` holds the instance, or, for ``owner`` None
        (a worker that could not even take it), while no live lease is held on it;
        otherwise the instance is left to whoever holds it.
        """
        error = f"Running the instance failed outside step code: {type(exc).__name__}: {exc}"
        logger.error(
            "instance %s: %s",
            instance_id,
            error,
            exc_info=exc,
            extra={"action": "drive_failed", "instance_id": str(instance_id)},
        )

        def apply(row: WorkflowInstanceModel, t: Transition) -> None:
            if owner is None:
                held = not leases.is_live(row, semantics.utcnow())
            else:
                held = leases.holds(row, owner)
            if not held or t.state.status.is_terminal:
                t.changed = False
                return
            t.events = semantics.fail_drive(t.state, error, token_id)
            t.lease = leases.Lease(None, None)

        return self.store.transition(instance_id, apply, self.effects.committing).state

    def _fail_or_raise(
        self, instance_id: UUID, owner: str, exc: Exception, running: Token | None
    ) -> WorkflowInstanceData:
        try:
            return self.fail(instance_id, owner, exc, None if running is None else running.id)
        except Exception:
            logger.exception(
                "instance %s: failing it after its drive failed failed too", instance_id
            )
            raise exc from None

    def _park(
        self,
        definition: WorkflowDefinition,
        state: WorkflowInstanceData,
        batch: batches.Batch,
        token: Token,
        step: Any,
    ) -> tuple[WorkflowInstanceData, Token | None, batches.Batch | None]:
        """Park ``token`` at its human or webhook step (or fail it: no such step, or the
        step's assignment code broke) and commit the batch."""
        if step is not None and semantics.is_message(step):
            return self._subscribe(definition, state, batch, token, step)
        if step is not None and subworkflows.is_subworkflow(step):
            return self._call(definition, state, batch, token, step)
        if step is not None and semantics.is_human(step) and multi_instance.is_multi(step):
            return self._park_items(definition, state, batch, token, step)
        fields = None
        if step is not None and semantics.is_human(step):
            try:
                fields = semantics.sent_back_task(token, runner.task_fields(step, state.context))
            except Exception as exc:  # the step's assignment code broke
                logger.exception("task of step %r: assignment failed", token.step)
                batch.fail(state, token, f"Creating the task of '{token.step}' failed: {exc}")
                return self.flush(definition, state, batch)
            fields["excluded_users"] = four_eyes.excluded_users(self.store.using, state.id, step)
        batch.park(state, definition, token, step, fields)
        claimed = semantics.claim_next(state, definition, batch.events)
        return self.flush(definition, state, batch, claimed)

    def _park_items(
        self,
        definition: WorkflowDefinition,
        state: WorkflowInstanceData,
        batch: batches.Batch,
        token: Token,
        step: Any,
    ) -> tuple[WorkflowInstanceData, Token | None, batches.Batch | None]:
        """Park ``token`` at its multi-instance human step with a task per item (or the
        first one, sequential), and commit; skip the step when it has no items; fail the
        branch when its items or its tasks' assignment cannot be had."""
        try:
            items, fields = multi_instance.first_tasks(step, state.context)
        except Exception as exc:  # for_each or the step's assignment code broke
            logger.exception("tasks of step %r: for_each or assignment failed", token.step)
            batch.fail(state, token, f"Creating the tasks of '{token.step}' failed: {exc}")
            return self.flush(definition, state, batch)
        if not items:
            multi_instance.skip(state, definition, batch, token, step)
            return state, semantics.claim_next(state, definition, batch.events), batch
        excluded = four_eyes.excluded_users(self.store.using, state.id, step)
        fields = [{**each, "excluded_users": excluded} for each in fields]
        batch.park(state, definition, token, step, None, items=items, item_fields=fields)
        claimed = semantics.claim_next(state, definition, batch.events)
        return self.flush(definition, state, batch, claimed)

    def _call(
        self,
        definition: WorkflowDefinition,
        state: WorkflowInstanceData,
        batch: batches.Batch,
        token: Token,
        step: Any,
    ) -> tuple[WorkflowInstanceData, Token | None, batches.Batch | None]:
        """Park ``token`` at its subworkflow step with its children, inserted by the commit
        (or fail it: the workflow is unknown, the input or items cannot be had), and commit;
        in inline mode, run the children then (see :mod:`.subworkflows`)."""
        try:
            children = subworkflows.prepare(self.engine, step, state)
        except Exception as exc:  # unknown workflow, or the step's input/for_each broke
            logger.warning("subworkflow step %r: %s", token.step, exc)
            error = subworkflow_rules.start_failure(token.step, exc)
            batch.fail(state, token, error)
            return self.flush(definition, state, batch)
        if not children:  # for_each gave no items: the step is done at once
            multi_instance.skip(state, definition, batch, token, step)
            return state, semantics.claim_next(state, definition, batch.events), batch
        batch.park(state, definition, token, step, None, children=children)
        claimed = semantics.claim_next(state, definition, batch.events)
        state, claimed, new = self.flush(definition, state, batch, claimed)
        if new is None or not leases.inline():
            return state, claimed, new
        for child in children:
            subworkflows.run_child(self.engine, child["id"])
        if claimed is None and semantics.next_ready(state) is None:
            # This drive released the instance: a child that ended resumed it (and ran it
            # on); it is where that left it.
            fresh = self.store.state(self.store.row(state.id), self.store.history(state.id))
            return fresh, None, None
        return state, claimed, new

    def _subscribe(
        self,
        definition: WorkflowDefinition,
        state: WorkflowInstanceData,
        batch: batches.Batch,
        token: Token,
        step: Any,
    ) -> tuple[WorkflowInstanceData, Token | None, batches.Batch | None]:
        """Park ``token`` at its message step, subscribed to the message with the value of
        its correlation key (or fail it: the value cannot be a key), and commit; then
        deliver a buffered message that waits for it (see :mod:`.messages`)."""
        try:
            value = semantics.message_correlation(step, state.context)
        except WorkflowValidationError as exc:
            batch.fail(state, token, f"Message step '{token.step}': {exc}")
            return self.flush(definition, state, batch)
        batch.park(state, definition, token, step, None, correlation=value)
        claimed = semantics.claim_next(state, definition, batch.events)
        state, claimed, new = self.flush(definition, state, batch, claimed)
        if new is None:
            return state, claimed, new  # the lease was lost
        delivered = messages.deliver_buffered(self.engine, new.instance_id)
        if delivered is not None and claimed is None and semantics.next_ready(state) is None:
            # This drive had nothing left to run and released the instance: the delivery
            # ran it on (inline) or handed it to a worker; it is where the delivery left it.
            return delivered, None, None
        return state, claimed, new

    def flush(
        self,
        definition: WorkflowDefinition,
        state: WorkflowInstanceData,
        batch: batches.Batch,
        claimed: Token | None = None,
    ) -> tuple[WorkflowInstanceData, Token | None, batches.Batch | None]:
        """Commit a batch; return the state, the claimed branch and a new batch.

        If nothing else changed the instance since the batch began (its
        ``lock_version`` is the batch's), the state in memory is saved as it is.
        Otherwise the instance is locked and reloaded, and the batch is applied
        again, in order, to what is there now, for as long as its branches are
        still where the batch found them; what no longer applies is dropped. If
        the lease was taken over meanwhile (it lapsed), nothing is applied and
        the drive ends: the new batch is None.

        A commit that fails with one of :data:`.store.TRANSIENT_ERRORS` is tried again
        on a new connection, after a short back-off, for as long as the lease holds.
        """
        failures = 0
        while True:
            began = time.monotonic()
            try:
                state, claimed, new, owner = self._commit(definition, state, batch, claimed)
            except TRANSIENT_ERRORS as exc:
                delay = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
                failures += 1
                if batch.hold.lapsed() or not self.store.reconnect():
                    raise
                logger.warning(
                    "instance %s: commit failed (%s: %s), trying again on a new connection",
                    batch.instance_id,
                    type(exc).__name__,
                    exc,
                    extra={"action": "reconnect", "instance_id": str(batch.instance_id)},
                )
                time.sleep(min(delay, max(batch.hold.expires - time.monotonic(), 0.0)))
                continue
            if owner is not None:
                batch.hold.renewed(began)
            return state, claimed, new

    def _commit(
        self,
        definition: WorkflowDefinition,
        state: WorkflowInstanceData,
        batch: batches.Batch,
        claimed: Token | None,
    ) -> tuple[WorkflowInstanceData, Token | None, batches.Batch | None, str | None]:
        """Commit a batch once (see :meth:`flush`); also return the lease owner written."""
        instance_id, hold = batch.instance_id, batch.hold
        with transaction.atomic(using=self.store.using):
            owner = leases.keep_or_release(state, claimed, batch.owner)
            if self.store.save_if_unchanged(instance_id, state, batch.version, owner):
                self.store.insert(batch.executions, batch.tasks, batch.subscriptions)
                subworkflows.insert(self.engine, state, batch.children)
                self.effects.committing(state, batch.events, owner)
                return state, claimed, batches.Batch(instance_id, batch.version + 1, hold), owner

            row = self.store.row(instance_id, lock=True)
            fresh = self.store.state(row, self.store.history(row.pk))
            if not leases.holds(row, batch.owner):
                logger.warning(
                    "instance %s: the lease of drive %s was taken over; its results are dropped",
                    instance_id,
                    batch.owner,
                )
                hold.lose()
                return fresh, None, None, None
            replayed = batches.Batch(instance_id, row.lock_version, hold)
            claimed = None
            for item in batch.items:
                if not item.replay(fresh, definition, replayed):
                    break
                claimed = semantics.claim_next(fresh, definition, replayed.events)
            if claimed is None:
                claimed = semantics.claim_next(fresh, definition, replayed.events)
            owner = leases.keep_or_release(fresh, claimed, batch.owner)
            self.store.save(row, fresh, owner)
            self.store.insert(replayed.executions, replayed.tasks, replayed.subscriptions)
            subworkflows.insert(self.engine, fresh, replayed.children)
            self.effects.committing(fresh, replayed.events, owner)
        return fresh, claimed, batches.Batch(instance_id, row.lock_version, hold), owner
