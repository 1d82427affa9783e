"""Human steps in the database: the rows of a pause and a resume, and the task's own errors
(scenarios 8 to 10).

How human steps behave (pause, resume, validation, completion errors) is in
tests/engine_contract; these tests read the instance, execution and task rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.engine_contract.kit import SCHEMA
from tests.integration.helpers import (
    Edge,
    executions,
    human,
    marker,
    snapshot,
    tasks,
    workflow,
)
from workflows_app import BaseHumanStep, TaskAlreadyCompletedError
from workflows_app.models import StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def approval(form_schema=SCHEMA, **human_kwargs):
    c = marker("C")
    h = human(
        "H",
        title="Approve",
        description="Approve the request",
        form_schema=form_schema,
        **human_kwargs,
    )
    wf = workflow(
        [marker("A"), h, c], [Edge("A", "H"), Edge("H", "C")], name="approval", terminal={"C"}
    )
    return wf, c


# -- scenario 8: the pause --------------------------------------------------------------


def test_pause__instance_row__scenario_8(engine) -> None:
    wf, _ = approval()
    started = engine.start_workflow_sync(wf, {"x": 1})
    assert (started.status, started.current_step) == ("waiting", "H")
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.current_step, row.completed_at) == ("waiting", "H", None)
    assert [(t["step"], t["state"]) for t in row.tokens] == [("H", "waiting")]
    assert (row.lease_owner, row.wake_at) == (None, None)


def test_pause__step_execution_row__scenario_8(engine) -> None:
    wf, _ = approval(assignee_key="reviewer")
    started = engine.start_workflow_sync(wf, {"x": 1, "reviewer": "u42"})
    a_row, h_row = executions(started.id)
    assert a_row.step_name == "A"
    assert (h_row.step_name, h_row.step_type, h_row.status) == ("H", "human", "waiting")
    assert h_row.completed_at is None
    assert h_row.completed_by is None
    assert h_row.output_data is None
    assert h_row.assigned_to == "u42"
    assert h_row.input_data == {"x": 1, "a_done": True, "reviewer": "u42"}
    assert h_row.token_id == WorkflowInstanceModel.objects.get(pk=started.id).tokens[0]["id"]


def test_pause__human_task_row__scenario_8(engine) -> None:
    wf, _ = approval(
        assignee_key="reviewer",
        assignee_group="managers",
        due_in=timedelta(days=2),
        reminder_in=timedelta(hours=20),
        priority=5,
    )
    before = datetime.now(UTC)
    started = engine.start_workflow_sync(wf, {"reviewer": 42}, tenant_id="acme", created_by="u1")
    after = datetime.now(UTC)
    (task,) = tasks(started.id)
    assert task.status == "pending"
    assert task.step_name == "H"
    assert task.title == "Approve"
    assert task.description == "Approve the request"
    assert task.form_schema == SCHEMA
    assert task.assignee_id == "42"
    assert task.assignee_group == "managers"
    assert before + timedelta(days=2) <= task.due_at <= after + timedelta(days=2)
    assert before + timedelta(hours=20) <= task.reminder_at <= after + timedelta(hours=20)
    assert task.priority == 5
    assert task.tenant_id == "acme"
    assert task.instance_id == started.id
    assert task.step_execution == StepExecutionModel.objects.get(
        instance_id=started.id, step_name="H"
    )
    assert (task.completed_at, task.completed_by) == (None, None)


def test_pause__task_defaults(engine) -> None:
    wf = workflow([BaseHumanStep(name="manager_approval")], [])
    started = engine.start_workflow_sync(wf)
    (task,) = tasks(started.id)
    assert task.title == "Manager Approval"
    assert task.form_schema is None
    assert (task.assignee_id, task.assignee_group, task.due_at, task.reminder_at) == (
        None,
        None,
        None,
        None,
    )
    assert task.priority == 0
    assert task.tenant_id is None


def test_pause__assignment_computed_by_overridden_methods(engine) -> None:
    class Review(BaseHumanStep):
        name = "review"

        async def get_assignee(self, context):  # async: computed in an event loop
            return f"owner-of-{context.get('doc')}"

        def get_title(self, context):
            return f"Review {context.get('doc')}"

        def get_due_date(self, context):
            return datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    started = engine.start_workflow_sync(workflow([Review()], []), {"doc": "d7"})
    (task,) = tasks(started.id)
    assert task.assignee_id == "owner-of-d7"
    assert task.title == "Review d7"
    assert task.due_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert StepExecutionModel.objects.get(step_name="review").assigned_to == "owner-of-d7"


# -- scenario 9: resume --------------------------------------------------------------------


def test_resume__rows__scenario_9(engine, bus, committed) -> None:
    wf, _ = approval()
    started = engine.start_workflow_sync(wf, {"x": 1})
    with committed():
        returned = engine.complete_human_task_sync(started.id, "H", "u1", {"approved": True})
    assert returned.status == "completed"
    assert bus.names("workflow.") == ["workflow.completed"]  # sent when the completion commits

    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.last_user_id, row.tokens) == ("completed", "u1", [])
    h_row = executions(started.id, "H")[0]
    assert (h_row.step_type, h_row.status, h_row.completed_by) == ("human", "succeeded", "u1")
    assert h_row.output_data == {"approved": True}
    assert h_row.started_at <= h_row.completed_at

    (task,) = tasks(started.id)
    assert (task.status, task.completed_by) == ("completed", "u1")
    assert task.completed_at is not None
    assert task.step_execution_id == h_row.pk


# -- the task's own errors ------------------------------------------------------------------


def test_complete_twice_raises_task_already_completed(engine) -> None:
    # The in-memory engine, which has no tasks, raises WorkflowStateError; both are
    # ValueErrors (tests/engine_contract).
    wf, c = approval()
    started = engine.start_workflow_sync(wf)
    engine.complete_human_task_sync(started.id, "H", "u1", {"approved": True})
    before = snapshot()
    with pytest.raises(TaskAlreadyCompletedError) as excinfo:
        engine.complete_human_task_sync(started.id, "H", "u2", {"approved": False})
    assert isinstance(excinfo.value, ValueError)
    assert excinfo.value.task_id == tasks(started.id)[0].pk
    # Late data that would not validate is told the same, not that its form is wrong.
    with pytest.raises(TaskAlreadyCompletedError):
        engine.complete_human_task_sync(started.id, "H", "u2", {"approved": "not a boolean"})
    assert snapshot() == before
    assert c.calls == 1
