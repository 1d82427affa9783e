"""Cancel and retry on the database (scenario 12 and the intended ``retry``)."""

from __future__ import annotations

import pytest

from tests.integration.helpers import (
    Edge,
    FlakyOnce,
    Step,
    executions,
    human,
    marker,
    names,
    snapshot,
    tasks,
    workflow,
)
from workflows_app import InvalidTransitionError, WorkflowAlreadyCompletedError
from workflows_app.exceptions import WorkflowStateError
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def boom(ctx):
    raise RuntimeError("boom")


def waiting_workflow():
    c = marker("C")
    wf = workflow([marker("A"), human("H"), c], [Edge("A", "H"), Edge("H", "C")], name="waits")
    return wf, c


def failing_workflow(body=boom):
    a, f, c = marker("A"), Step("F", body), marker("C")
    wf = workflow([a, f, c], [Edge("A", "F"), Edge("F", "C")], name="fails", terminal={"C"})
    return wf, a, f, c


# -- cancel -------------------------------------------------------------------------------


def test_cancel__waiting_instance__scenario_12(engine, bus, committed) -> None:
    wf, c = waiting_workflow()
    started = engine.start_workflow_sync(wf)
    with committed():
        returned = engine.cancel_workflow_sync(started.id, "nope")
    assert returned.status == "canceled"

    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert row.status == "canceled"
    assert row.error == "Canceled: nope"
    assert row.completed_at is not None
    assert row.tokens == []
    (task,) = tasks(started.id)
    assert task.status == "canceled"
    assert task.completed_by is None
    (h_row,) = executions(started.id, "H")
    assert h_row.status == "canceled"
    assert h_row.completed_at is not None
    assert h_row.completed_by is None
    assert bus.of("workflow.canceled") == [{"instance_id": started.id, "reason": "nope"}]
    assert bus.names("workflow.") == ["workflow.canceled"]
    assert c.calls == 0


def test_cancel__then_complete_raises_not_waiting__scenario_12(engine) -> None:
    # Scenario 12: "a later complete_human_task raises the not-waiting error"; the docs
    # (concepts/execution.rst) promise WorkflowStateError when the instance is not waiting.
    wf, c = waiting_workflow()
    started = engine.start_workflow_sync(wf)
    engine.cancel_workflow_sync(started.id, "nope")
    before = snapshot()
    with pytest.raises(WorkflowStateError, match="is not waiting"):
        engine.complete_human_task_sync(started.id, "H", "u1", {"ok": True})
    assert snapshot() == before
    assert c.calls == 0


def test_cancel__only_pending_tasks_are_canceled(engine) -> None:
    wf = workflow(
        [human("first"), human("second"), marker("end")],
        [Edge("first", "second"), Edge("second", "end")],
    )
    started = engine.start_workflow_sync(wf)
    engine.complete_human_task_sync(started.id, "first", "u1", {})
    engine.cancel_workflow_sync(started.id, "stop")
    assert [(t.step_name, t.status, t.completed_by) for t in tasks(started.id)] == [
        ("first", "completed", "u1"),
        ("second", "canceled", None),
    ]
    assert [r.status for r in executions(started.id, "first")] == ["succeeded"]
    assert [r.status for r in executions(started.id, "second")] == ["canceled"]


def test_cancel__leaves_other_instances_alone(engine) -> None:
    wf, _ = waiting_workflow()
    keep = engine.start_workflow_sync(wf)
    drop = engine.start_workflow_sync(wf)
    engine.cancel_workflow_sync(drop.id, "x")
    assert WorkflowInstanceModel.objects.get(pk=keep.id).status == "waiting"
    assert [t.status for t in tasks(keep.id)] == ["pending"]
    assert [r.status for r in executions(keep.id, "H")] == ["waiting"]


@pytest.mark.parametrize("final_status", ["completed", "failed", "canceled"])
def test_cancel__finished_instance_raises_already_completed(engine, final_status) -> None:
    if final_status == "completed":
        instance = engine.start_workflow_sync(workflow([marker("A")], []))
    elif final_status == "failed":
        instance = engine.start_workflow_sync(workflow([Step("F", boom)], []))
    else:
        wf, _ = waiting_workflow()
        instance = engine.start_workflow_sync(wf)
        engine.cancel_workflow_sync(instance.id, "first")
    before = snapshot()
    with pytest.raises(WorkflowAlreadyCompletedError) as excinfo:
        engine.cancel_workflow_sync(instance.id, "again")
    assert isinstance(excinfo.value, ValueError)
    assert final_status in str(excinfo.value)
    assert snapshot() == before


# -- retry --------------------------------------------------------------------------------


def test_retry__from_the_failed_step(engine, bus, committed) -> None:
    flaky = FlakyOnce()
    wf, a, _, c = failing_workflow(flaky)
    failed = engine.start_workflow_sync(wf, {"x": 1})
    assert failed.status == "failed"
    with committed():
        returned = engine.retry_sync(failed.id)
    assert returned.status == "completed"

    row = WorkflowInstanceModel.objects.get(pk=failed.id)
    assert row.status == "completed"
    assert row.error is None
    assert row.completed_at is not None
    assert row.current_step is None
    assert row.context_data == {"x": 1, "a_done": True, "flaky_ok": True, "c_done": True}
    rows = executions(failed.id)
    assert [(r.step_name, r.status) for r in rows] == [
        ("A", "succeeded"),
        ("F", "failed"),
        ("F", "succeeded"),
        ("C", "succeeded"),
    ]
    assert rows[1].error == "first attempt fails"
    assert rows[2].output_data == {"attempt": 2}
    assert (a.calls, c.calls) == (1, 1)
    assert [kw["step_name"] for kw in bus.of("workflow.retried")] == ["F"]
    assert bus.names("workflow.")[-1] == "workflow.completed"
    assert names(engine.get_instance_sync(failed.id)) == ["A", "F", "F", "C"]


def test_retry__from_a_named_step(engine) -> None:
    flaky = FlakyOnce()
    wf, a, _, _ = failing_workflow(flaky)
    failed = engine.start_workflow_sync(wf)
    engine.retry_sync(failed.id, from_step="A")
    assert WorkflowInstanceModel.objects.get(pk=failed.id).status == "completed"
    assert [r.step_name for r in executions(failed.id)] == ["A", "F", "A", "F", "C"]
    assert a.calls == 2


def test_retry__still_failing_step_fails_again(engine) -> None:
    wf, _, f, _ = failing_workflow()
    failed = engine.start_workflow_sync(wf)
    again = engine.retry_sync(failed.id)
    assert again.status == "failed"
    row = WorkflowInstanceModel.objects.get(pk=failed.id)
    assert (row.status, row.error, row.current_step) == ("failed", "boom", "F")
    assert [(r.step_name, r.status) for r in executions(failed.id)] == [
        ("A", "succeeded"),
        ("F", "failed"),
        ("F", "failed"),
    ]
    assert f.calls == 2


def test_retry__unknown_from_step_changes_nothing(engine) -> None:
    wf, *_ = failing_workflow()
    failed = engine.start_workflow_sync(wf)
    before = snapshot()
    with pytest.raises(InvalidTransitionError):
        engine.retry_sync(failed.id, from_step="no_such_step")
    assert snapshot() == before


def test_retry__waiting_instance_raises_state_error(engine) -> None:
    wf, _ = waiting_workflow()
    waiting = engine.start_workflow_sync(wf)
    before = snapshot()
    with pytest.raises(WorkflowStateError):
        engine.retry_sync(waiting.id)
    assert snapshot() == before


@pytest.mark.parametrize("final_status", ["completed", "canceled"])
def test_retry__finished_instance_raises_already_completed(engine, final_status) -> None:
    if final_status == "completed":
        instance = engine.start_workflow_sync(workflow([marker("A")], []))
    else:
        wf, _ = waiting_workflow()
        instance = engine.start_workflow_sync(wf)
        engine.cancel_workflow_sync(instance.id, "stop")
    before = snapshot()
    with pytest.raises(WorkflowAlreadyCompletedError):
        engine.retry_sync(instance.id)
    assert snapshot() == before


def test_retry__of_an_instance_failed_at_a_missing_step(engine, registry) -> None:
    """Routing to an undefined step fails the instance; retrying from a real step recovers it."""
    wf = workflow([marker("A"), marker("B")], [Edge("A", "ghost")], name="ghostly")
    failed = engine.start_workflow_sync(wf)
    assert WorkflowInstanceModel.objects.get(pk=failed.id).status == "failed"
    engine.retry_sync(failed.id, from_step="B")
    row = WorkflowInstanceModel.objects.get(pk=failed.id)
    assert row.status == "completed"
    assert [r.step_name for r in executions(failed.id)] == ["A", "B"]
