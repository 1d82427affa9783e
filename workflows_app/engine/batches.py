"""The batch: what a drive did since its last commit, and the rows committing it writes.

A drive runs consecutive machine steps and commits their results together (see
:mod:`.drive`). Between two commits it collects, in a :class:`Batch`, the results of
the steps it ran, the human and webhook steps it parked, the timers it started and
the branches it failed, with the step execution and task rows to insert. If another
change reached the instance meanwhile, the batch is applied again, item by item, to
what is there now (each item's ``replay``).
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from typing import Any
from uuid import UUID

from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.models import Token, WorkflowInstanceData
from workflows_app.core.multi_instance import results_key
from workflows_app.core.types import StepStatus, StepType
from workflows_app.engine import compensation, leases, semantics

# Step log lines belong to the engine that runs them.
logger = logging.getLogger("workflows_app.engine.persistent")


NO_CHANGES = semantics.NO_CHANGES


class Batch:
    """What a drive did since its last commit, and the rows committing it writes."""

    def __init__(self, instance_id: UUID, version: int, hold: leases.Hold) -> None:
        self.instance_id = instance_id
        self.version = version  # the instance's lock_version when the batch began
        self.hold = hold  # the drive's lease
        self.owner = hold.owner
        self.opened = time.monotonic()
        self.children: list[dict[str, Any]] = []  # subworkflow parks: the children to insert
        self.items: list[Item] = []
        self.executions: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.subscriptions: list[dict[str, Any]] = []
        self.events: list[semantics.Event] = []

    def add(
        self,
        token: Token,
        outcome: semantics.Outcome,
        changes: Any,
        step: Any,
        *,
        fired: bool = False,
    ) -> None:
        """Record the result of a machine step, or of a timer that ``fired`` (already applied)."""
        self.items.append(StepResult(token.id, outcome, changes, step, fired))
        self.executions.append(
            {
                "instance_id": self.instance_id,
                "step_name": token.step,
                "step_type": str(
                    StepType.COMPENSATION
                    if token.compensation
                    else getattr(step, "step_type", StepType.MACHINE)
                ),
                "status": str(outcome.status),
                "input_data": outcome.input_data,
                "output_data": semantics.output_of(outcome.result),
                "error": outcome.error,
                "started_at": outcome.started_at,
                "completed_at": outcome.completed_at,
                "token_id": token.id,
                "attempt": token.attempt,
            }
        )

    def fail(self, state: WorkflowInstanceData, token: Token, error: str) -> bool:
        """Fail the instance at ``token``'s step (an error outside the step's own code)."""
        self.events.extend(semantics.fail_branch(state, token, error))
        self.items.append(Fail(token.id, error))
        return True

    def sleep(
        self, state: WorkflowInstanceData, definition: WorkflowDefinition, token: Token, step: Any
    ) -> bool:
        """Start the timer of ``token``'s timer step."""
        now = semantics.utcnow()
        self.events.extend(semantics.start_timer(state, definition, token, step, now))
        self.items.append(Sleep(token.id, step, now))
        return True

    def park(
        self,
        state: WorkflowInstanceData,
        definition: WorkflowDefinition,
        token: Token,
        step: Any,
        fields: dict[str, Any] | None,
        callback: str | None = None,
        correlation: str | None = None,
        items: list[Any] | None = None,
        item_fields: list[dict[str, Any]] | None = None,
        children: list[dict[str, Any]] | None = None,
    ) -> bool:
        """Park ``token`` at its human step (creating the task), webhook step (creating
        its callback token) or message step (subscribing it to the message with the
        ``correlation`` value), or fail it if ``step`` is None.

        At a multi-instance human step, ``items`` are the step's items and
        ``item_fields`` the fields of the tasks to create now, from the first item on
        (all of them, or only the first for a sequential step). At a subworkflow step,
        ``children`` are the children to start (see :mod:`.subworkflows`): their rows
        are inserted by the batch's commit."""
        if step is None:
            self.events.extend(semantics.fail_missing_step(state, token))
            self.items.append(Park(token.id, None, None, None))
            return True
        message = semantics.is_message(step)
        if fields is None and not message and items is None and children is None:  # webhook
            callback = callback or semantics.new_callback_token()
            state.context.data[step.get_token_key()] = callback
        if items is not None:
            semantics.start_items(state, token, items)
        if children is not None and getattr(step, "for_each", None) is not None:
            state.context.data[results_key(token.step)] = [None] * len(children)
        self.events.extend(semantics.wait(state, definition, token))
        self.items.append(
            Park(token.id, step, fields, callback, correlation, items, item_fields, children)
        )
        execution_id = uuid.uuid4()
        self.executions.append(
            {
                "id": execution_id,
                "instance_id": self.instance_id,
                "step_name": token.step,
                "step_type": str(getattr(step, "step_type", StepType.HUMAN)),
                "status": str(StepStatus.WAITING),
                "input_data": copy.deepcopy(state.context.data),
                "started_at": token.started_at,
                "assigned_to": fields["assignee_id"] if fields else None,
                "token_id": token.id,
                "callback_token": callback,
            }
        )
        waiting = {"instance_id": self.instance_id, "step_name": token.step}
        if children is not None:
            park = {"execution_id": execution_id, "step_name": token.step, "children": children}
            self.children.append(park)
            ids = [child["id"] for child in children]
            self.events.append(("subworkflow.waiting", {**waiting, "children": ids}))
            return True
        if message:
            self.subscriptions.append(
                {
                    "id": uuid.uuid4(),
                    "instance_id": self.instance_id,
                    "step_execution_id": execution_id,
                    "step_name": token.step,
                    "token_id": token.id,
                    "message_name": step.message,
                    "correlation_value": correlation,
                    "tenant_id": state.context.tenant_id,
                    "created_at": token.started_at,
                }
            )
            waiting |= {"message_name": step.message, "correlation_key": correlation}
            self.events.append(("message.waiting", waiting))
            return True
        if items is not None:
            for index, each in enumerate(item_fields or ()):
                extra = {"multi_index": index, "multi_total": len(items)}
                self.task(state, execution_id, token.step, {**each, **extra})
            return True
        if fields is None:
            self.events.append(("webhook.waiting", {**waiting, "callback_token": callback}))
            return True
        self.task(state, execution_id, token.step, fields)
        return True

    def task(
        self,
        state: WorkflowInstanceData,
        execution_id: UUID,
        step_name: str,
        fields: dict[str, Any],
    ) -> None:
        """Add the task of the waiting execution ``execution_id`` with ``fields``."""
        row, event = task_row(
            self.instance_id, state.context.tenant_id, execution_id, step_name, fields
        )
        self.tasks.append(row)
        self.events.append(event)


class StepResult:
    def __init__(
        self, token_id: str, outcome: semantics.Outcome, changes: Any, step: Any, fired: bool
    ) -> None:
        self.token_id, self.outcome, self.changes = token_id, outcome, changes
        self.step, self.fired = step, fired

    def replay(
        self, state: WorkflowInstanceData, definition: WorkflowDefinition, into: Batch
    ) -> bool:
        token = find(state, self.token_id, semantics.SLEEPING if self.fired else semantics.RUNNING)
        if token is None:
            return False
        if self.fired:
            token.due_at = token.started_at = None
        semantics.apply_changes(state.context.data, self.changes)
        into.add(token, self.outcome, self.changes, self.step, fired=self.fired)
        into.events.extend(compensation.advance(state, definition, token, self.outcome))
        return True


class Park:
    def __init__(
        self,
        token_id: str,
        step: Any,
        fields: dict[str, Any] | None,
        callback: str | None,
        correlation: str | None = None,
        items: list[Any] | None = None,
        item_fields: list[dict[str, Any]] | None = None,
        children: list[dict[str, Any]] | None = None,
    ) -> None:
        self.token_id, self.step, self.fields, self.callback = token_id, step, fields, callback
        self.correlation, self.items, self.item_fields = correlation, items, item_fields
        self.children = children

    def replay(
        self, state: WorkflowInstanceData, definition: WorkflowDefinition, into: Batch
    ) -> bool:
        token = find(state, self.token_id, semantics.READY)
        return token is not None and into.park(
            state,
            definition,
            token,
            self.step,
            self.fields,
            self.callback,
            self.correlation,
            self.items,
            self.item_fields,
            self.children,
        )


class Fail:
    def __init__(self, token_id: str, error: str) -> None:
        self.token_id, self.error = token_id, error

    def replay(
        self, state: WorkflowInstanceData, definition: WorkflowDefinition, into: Batch
    ) -> bool:
        token = find(state, self.token_id, semantics.READY)
        return token is not None and into.fail(state, token, self.error)


class Sleep:
    def __init__(self, token_id: str, step: Any, now: Any) -> None:
        self.token_id, self.step, self.now = token_id, step, now

    def replay(
        self, state: WorkflowInstanceData, definition: WorkflowDefinition, into: Batch
    ) -> bool:
        token = find(state, self.token_id, semantics.READY)
        if token is None:
            return False
        into.events.extend(semantics.start_timer(state, definition, token, self.step, self.now))
        into.items.append(self)
        return True


Item = StepResult | Park | Sleep | Fail


def log_step(state: WorkflowInstanceData, token: Token, outcome: semantics.Outcome) -> None:
    milliseconds = (outcome.completed_at - outcome.started_at).total_seconds() * 1000
    logger.info(
        "%s %s: step %s %s in %.1f ms",
        state.workflow_name,
        state.id,
        token.step,
        outcome.status,
        milliseconds,
        extra={
            "action": "run_step",
            "workflow": state.workflow_name,
            "instance_id": str(state.id),
            "step_name": token.step,
            "status": str(outcome.status),
            "duration_ms": round(milliseconds, 1),
            "error": outcome.error,
        },
    )


def find(state: WorkflowInstanceData, token_id: str, token_state: str) -> Token | None:
    return next((t for t in state.tokens if t.id == token_id and t.state == token_state), None)


def task_row(
    instance_id: UUID,
    tenant_id: str | None,
    execution_id: UUID,
    step_name: str,
    fields: dict[str, Any],
) -> tuple[dict[str, Any], semantics.Event]:
    """Return the row of a new task of the waiting execution ``execution_id`` with
    ``fields``, and its ``task.created`` event."""
    task_id = uuid.uuid4()
    row = {
        "id": task_id,
        "instance_id": instance_id,
        "step_execution_id": execution_id,
        "step_name": step_name,
        "tenant_id": tenant_id,
        **fields,
    }
    created = {
        "instance_id": instance_id,
        "task_id": task_id,
        "step_name": step_name,
        "assignee_id": fields["assignee_id"],
        "assignee_group": fields["assignee_group"],
        "due_at": fields["due_at"],
    }
    return row, ("task.created", created)
