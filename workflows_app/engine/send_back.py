"""Sending a task back for rework (:func:`send_back`).

The pending task of a human step returns its instance to an earlier step of the same
branch (the rule is :mod:`workflows_app.core.send_back`). In one locked transition: the
task is canceled with the reason, its wait is recorded as canceled, and the branch is ready at the earlier step, which runs again as a new execution
(the first attempt's history is kept). A task that this makes goes to whoever completed
the earlier step's last task, and starts its activity with the send back. The instance's
metadata keeps each send back under ``"sent_back"``; the ``workflow.sent_back`` event is
sent once it commits.
"""

from __future__ import annotations

from typing import Any

from workflows_app.core import metadata as metadata_keys
from workflows_app.core import send_back as rules
from workflows_app.engine import four_eyes, leases, multi_instance, semantics, task_actions
from workflows_app.engine.effects import Effects
from workflows_app.engine.store import Store, Transition, audit
from workflows_app.models import WorkflowInstanceModel

__all__ = ["MAX_REASON", "send_back"]

MAX_REASON = rules.MAX_REASON
"""The longest reason a send back takes, in characters."""


def send_back(
    store: Store, effects: Effects, task_id: Any, to_step: Any, reason: Any, by: str | None
) -> tuple[Transition, Any]:
    """Send the pending task ``task_id`` back to the earlier step ``to_step`` with
    ``reason``, as ``by``; return the committed transition and the instance's definition
    (for the caller to run the instance on)."""
    rules.check_request(to_step, reason)
    task = task_actions.open_task(store.using, task_id)
    # Checked before anything is locked, for a quick answer; and again under the lock, in
    # case the instance moved to another version (or the task to another step) meanwhile.
    rules.check(store.definition_of(store.row(task.instance_id)), task.step_name, to_step)
    used: dict[str, Any] = {}

    def apply(row: WorkflowInstanceModel, t: Transition) -> None:
        locked = task_actions.locked_pending(store.using, task.pk)
        four_eyes.refuse(locked.pk, locked.excluded_users, by, "send back")
        used["definition"] = definition = store.definition_of(row)
        rules.check(definition, locked.step_name, to_step)
        at = semantics.utcnow().isoformat()
        assignee = task_actions.last_completer(store.using, row.pk, to_step)
        info = {"task_id": str(locked.pk), "reason": reason, "by": by, "at": at}
        info["assignee"] = assignee
        t.events = semantics.send_back(t.state, definition, locked.step_name, to_step, info)
        task_actions.send_back(store.using, locked, to_step, reason, by)
        why = f"another task of the step was sent back to '{to_step}': {reason}"
        multi_instance.cancel_siblings(store.using, locked, why, by)
        entry = {"task_id": str(locked.pk), "from_step": locked.step_name, "to_step": to_step}
        audit(row, t, metadata_keys.SENT_BACK, {**entry, "reason": reason, "by": by, "at": at})
        t.lease = leases.take(row, t.state, definition, t.events)

    return store.transition(task.instance_id, apply, effects.committing), used["definition"]
