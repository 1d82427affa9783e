"""Human steps on the database: pause, task rows, resume, completion errors (scenarios 8 to 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.helpers import (
    Edge,
    executions,
    human,
    marker,
    names,
    snapshot,
    tasks,
    workflow,
)
from workflows_app import BaseHumanStep, TaskAlreadyCompletedError, Workflow
from workflows_app.exceptions import TaskValidationError, WorkflowStateError
from workflows_app.models import StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db

SCHEMA = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean"},
        "amount": {"type": "number", "minimum": 0},
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"qty": {"type": "integer"}}},
        },
    },
    "required": ["approved"],
}


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


def test_pause__instance_row_and_events__scenario_8(engine, bus, committed) -> None:
    wf, c = approval()
    with committed():
        started = engine.start_workflow_sync(wf, {"x": 1})
    assert (started.status, started.current_step) == ("waiting", "H")
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.current_step) == ("waiting", "H")
    assert row.completed_at is None
    assert row.context_data == {"x": 1, "a_done": True}
    assert [t["step"] for t in row.tokens] == ["H"]
    assert [t["state"] for t in row.tokens] == ["waiting"]
    assert c.calls == 0
    assert bus.of("workflow.waiting") == [{"instance_id": started.id, "step_name": "H"}]
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting"]
    fetched = engine.get_instance_sync(started.id)
    assert (fetched.status, fetched.current_step) == ("waiting", "H")
    assert names(fetched) == ["A"]  # the waiting row is not history yet


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


def test_pause__first_step_can_be_human(engine) -> None:
    started = engine.start_workflow_sync(workflow([human("H"), marker("B")], [Edge("H", "B")]))
    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "waiting"
    assert [(r.step_name, r.status) for r in executions(started.id)] == [("H", "waiting")]
    assert len(tasks(started.id)) == 1


# -- scenario 9: resume --------------------------------------------------------------------


def test_resume__rows__scenario_9(engine, bus, committed) -> None:
    wf, c = approval()
    started = engine.start_workflow_sync(wf, {"x": 1})
    with committed():
        returned = engine.complete_human_task_sync(started.id, "H", "u1", {"approved": True})
    assert returned.status == "completed"

    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert row.status == "completed"
    assert row.current_step is None
    assert row.completed_at is not None
    assert row.context_data == {"x": 1, "a_done": True, "approved": True, "c_done": True}
    assert row.last_user_id == "u1"
    assert row.tokens == []

    rows = executions(started.id)
    assert [(r.step_name, r.status) for r in rows] == [
        ("A", "succeeded"),
        ("H", "succeeded"),
        ("C", "succeeded"),
    ]
    h_row = rows[1]
    assert h_row.step_type == "human"
    assert h_row.output_data == {"approved": True}
    assert h_row.completed_by == "u1"
    assert h_row.completed_at is not None
    assert h_row.started_at <= h_row.completed_at
    assert c.calls == 1

    (task,) = tasks(started.id)
    assert task.status == "completed"
    assert task.completed_by == "u1"
    assert task.completed_at is not None
    assert task.step_execution_id == h_row.pk
    assert bus.names("workflow.") == ["workflow.completed"]


def test_resume__history_and_user__scenario_9(engine) -> None:
    wf, _ = approval()
    started = engine.start_workflow_sync(wf, {"x": 1})
    engine.complete_human_task_sync(started.id, "H", "u1", {"approved": True})
    fetched = engine.get_instance_sync(started.id)
    assert names(fetched) == ["A", "H", "C"]
    entry = fetched.context.step_history[1]
    assert str(entry.status) == "succeeded"
    assert entry.result == entry.output_data == {"approved": True}
    assert fetched.context.user_id == "u1"


def test_resume__into_another_human_step(engine, bus, committed) -> None:
    wf = workflow(
        [human("first"), human("second", assignee_key="next_user"), marker("end")],
        [Edge("first", "second"), Edge("second", "end")],
    )
    with committed():
        started = engine.start_workflow_sync(wf)
        engine.complete_human_task_sync(started.id, "first", "u1", {"next_user": "u2"})
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.current_step) == ("waiting", "second")
    assert [(t.step_name, t.status, t.assignee_id) for t in tasks(started.id)] == [
        ("first", "completed", None),
        ("second", "pending", "u2"),
    ]
    with committed():
        engine.complete_human_task_sync(started.id, "second", "u2", {"two": 2})
    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "completed"
    assert [r.step_name for r in executions(started.id)] == ["first", "second", "end"]
    assert [kw["step_name"] for kw in bus.of("workflow.waiting")] == ["first", "second"]


def test_resume__human_step_without_outgoing_edge_completes(engine) -> None:
    started = engine.start_workflow_sync(workflow([marker("A"), human("H")], [Edge("A", "H")]))
    engine.complete_human_task_sync(started.id, "H", "u1", {"ok": True})
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.current_step) == ("completed", None)
    assert row.context_data == {"a_done": True, "ok": True}


def test_resume__condition_uses_submitted_data__scenario_11(engine) -> None:
    approve, reject = marker("approve"), marker("reject")
    wf = workflow(
        [human("H"), approve, reject],
        [
            Edge("H", "approve", lambda ctx: ctx.get("approved") is True),
            Edge("H", "reject", lambda ctx: ctx.get("approved") is False),
        ],
    )
    started = engine.start_workflow_sync(wf)
    engine.complete_human_task_sync(started.id, "H", "u1", {"approved": False})
    assert [r.step_name for r in executions(started.id)] == ["H", "reject"]
    assert approve.calls == 0


def test_resume__string_condition_after_human(engine) -> None:
    approve, reject = marker("approve"), marker("reject")
    wf = workflow(
        [human("H"), approve, reject],
        [Edge("H", "approve", "approved"), Edge("H", "reject", "not approved")],
    )
    started = engine.start_workflow_sync(wf)
    engine.complete_human_task_sync(started.id, "H", "u1", {"approved": True})
    assert [r.step_name for r in executions(started.id)] == ["H", "approve"]
    assert reject.calls == 0


def test_resume__loop_back_to_a_human_step_creates_a_new_task(engine) -> None:
    revise = marker("revise")
    wf = workflow(
        [marker("A"), human("H"), revise, marker("done")],
        [
            Edge("A", "H"),
            Edge("H", "revise", "not approved"),
            Edge("revise", "H"),
            Edge("H", "done", "approved"),
        ],
    )
    started = engine.start_workflow_sync(wf)
    engine.complete_human_task_sync(started.id, "H", "u1", {"approved": False})
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.current_step) == ("waiting", "H")
    assert [t.status for t in tasks(started.id, "H")] == ["completed", "pending"]
    assert [r.status for r in executions(started.id, "H")] == ["succeeded", "waiting"]

    engine.complete_human_task_sync(started.id, "H", "u2", {"approved": True})
    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "completed"
    assert [(t.status, t.completed_by) for t in tasks(started.id, "H")] == [
        ("completed", "u1"),
        ("completed", "u2"),
    ]
    assert [r.step_name for r in executions(started.id)] == ["A", "H", "revise", "H", "done"]
    assert revise.calls == 1


def test_resume__declarative_workflow_with_class_attribute_human_step(engine) -> None:
    class Review(BaseHumanStep):
        name = "review"
        title = "Review"
        assignee_key = "author"
        assignee_group = "editors"
        form_schema = {
            "type": "object",
            "required": ["approved"],
            "properties": {"approved": {"type": "boolean"}},
        }

    class ReviewFlow(Workflow):
        name = "review_flow"
        version = "1.0.0"
        steps = [marker("submit"), Review(), marker("publish")]
        edges = [("submit", "review"), ("review", "publish", "approved")]

    started = engine.start_workflow_sync(ReviewFlow, {"author": "ann"})
    (task,) = tasks(started.id)
    assert (task.title, task.assignee_id, task.assignee_group) == ("Review", "ann", "editors")
    with pytest.raises(TaskValidationError):
        engine.complete_human_task_sync(started.id, "review", "ann", {})
    engine.complete_human_task_sync(started.id, "review", "ann", {"approved": True})
    assert [r.step_name for r in executions(started.id)] == ["submit", "review", "publish"]


# -- completion errors ----------------------------------------------------------------------


def test_invalid_form_data_changes_nothing(engine, bus, django_capture_on_commit_callbacks) -> None:
    wf, c = approval()
    started = engine.start_workflow_sync(wf, {"x": 1})
    before = snapshot()
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(TaskValidationError) as excinfo:
            engine.complete_human_task_sync(
                started.id, "H", "u1", {"amount": "lots", "items": [{"qty": "x"}]}
            )
    error = excinfo.value
    assert set(error.field_errors) == {"amount", "items/0/qty", "approved"}
    assert all(len(messages) == 1 for messages in error.field_errors.values())
    assert len(error.errors) == 3
    assert snapshot() == before
    assert callbacks == []
    assert c.calls == 0


def test_invalid_form_data_not_an_object(engine) -> None:
    wf, _ = approval()
    started = engine.start_workflow_sync(wf)
    before = snapshot()
    with pytest.raises(TaskValidationError) as excinfo:
        engine.complete_human_task_sync(started.id, "H", "u1", ["approved"])
    assert list(excinfo.value.field_errors) == [""]
    assert snapshot() == before


def test_valid_form_data_after_an_invalid_attempt(engine) -> None:
    wf, _ = approval()
    started = engine.start_workflow_sync(wf)
    with pytest.raises(TaskValidationError):
        engine.complete_human_task_sync(started.id, "H", "u1", {"approved": "yes"})
    engine.complete_human_task_sync(
        started.id, "H", "u1", {"approved": True, "items": [{"qty": 2}]}
    )
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert row.status == "completed"
    assert row.context_data["items"] == [{"qty": 2}]


def test_complete_twice_raises_task_already_completed(engine) -> None:
    wf, c = approval()
    started = engine.start_workflow_sync(wf)
    engine.complete_human_task_sync(started.id, "H", "u1", {"approved": True})
    before = snapshot()
    with pytest.raises(TaskAlreadyCompletedError) as excinfo:
        engine.complete_human_task_sync(started.id, "H", "u2", {"approved": False})
    assert isinstance(excinfo.value, ValueError)
    assert excinfo.value.task_id == tasks(started.id)[0].pk
    assert snapshot() == before
    assert c.calls == 1


@pytest.mark.parametrize("step_name", ["wrong_step", "A", "C"])
def test_complete_step_that_is_not_waiting_raises_state_error(engine, step_name) -> None:
    # "A" and "C" are machine steps of the definition, "wrong_step" is not a step at all.
    wf, _ = approval()
    started = engine.start_workflow_sync(wf)
    before = snapshot()
    with pytest.raises(WorkflowStateError) as excinfo:
        engine.complete_human_task_sync(started.id, step_name, "u1", {"approved": True})
    assert isinstance(excinfo.value, ValueError)
    assert "waiting at step 'H'" in str(excinfo.value)
    assert f"not '{step_name}'" in str(excinfo.value)
    assert snapshot() == before


def test_complete_on_a_finished_instance_raises_not_waiting__scenario_10(engine) -> None:
    done = engine.start_workflow_sync(workflow([marker("A")], []))
    with pytest.raises(WorkflowStateError, match="is not waiting"):
        engine.complete_human_task_sync(done.id, "A", "u1", {})


def test_complete_a_finished_task_with_invalid_data_reports_the_state_first(engine) -> None:
    # The in-memory engine checks that the step is waiting before it validates the data, so
    # a late or repeated submission is told that the task is done, not that its form is wrong.
    wf, _ = approval()
    started = engine.start_workflow_sync(wf)
    engine.complete_human_task_sync(started.id, "H", "u1", {"approved": True})
    with pytest.raises(TaskAlreadyCompletedError):
        engine.complete_human_task_sync(started.id, "H", "u2", {"approved": "not a boolean"})
