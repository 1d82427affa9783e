"""Cancel (scenario 12) and the intended ``retry`` of a failed instance."""

from __future__ import annotations

import pytest

from tests.engine_contract.kit import Edge, Flaky, Step, human, marker, workflow
from workflows_app import (
    InvalidTransitionError,
    WorkflowAlreadyCompletedError,
    WorkflowStateError,
)


def boom(ctx):
    raise RuntimeError("boom")


def waiting_workflow():
    c = marker("C")
    return workflow([marker("A"), human("H"), c], [Edge("A", "H"), Edge("H", "C")]), c


def failing_workflow(body=boom):
    a, f, c = marker("A"), Step("F", body), marker("C")
    wf = workflow([a, f, c], [Edge("A", "F"), Edge("F", "C")], terminal={"C"})
    return wf, a, f, c


# -- cancel -------------------------------------------------------------------------------


def test_cancel_a_waiting_instance__scenario_12(harness, bus) -> None:
    wf, c = waiting_workflow()
    instance_id = harness.start(wf)
    harness.cancel(instance_id, "nope")
    instance = harness.get(instance_id)
    assert (instance.status, instance.error) == ("canceled", "Canceled: nope")
    assert instance.completed_at is not None
    assert bus.of("workflow.canceled") == [{"instance_id": instance_id, "reason": "nope"}]
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting", "workflow.canceled"]
    if harness.has_tasks:
        [task] = harness.tasks(instance_id)
        assert (task["status"], task["completed_by"]) == ("canceled", None)

    before = harness.fingerprint()
    with pytest.raises(WorkflowStateError, match="is not waiting"):
        harness.complete(instance_id, "H", "u1", {"ok": True})
    assert harness.fingerprint() == before
    assert c.calls == 0


def test_cancel_cancels_only_what_still_waits(harness) -> None:
    wf = workflow(
        [human("first"), human("second"), marker("end")],
        [Edge("first", "second"), Edge("second", "end")],
    )
    instance_id = harness.start(wf)
    harness.complete(instance_id, "first", "u1", {"one": 1})
    harness.cancel(instance_id, "stop")
    instance = harness.get(instance_id)
    assert instance.status == "canceled"
    assert instance.entries("first")[0].status == "succeeded"
    assert instance.data == {"one": 1}
    if harness.has_tasks:
        assert [
            (t["step"], t["status"], t["completed_by"]) for t in harness.tasks(instance_id)
        ] == [
            ("first", "completed", "u1"),
            ("second", "canceled", None),
        ]


def test_cancel_records_the_step_that_waited_as_canceled(harness) -> None:
    wf, _ = waiting_workflow()
    instance_id = harness.start(wf)
    harness.cancel(instance_id, "nope")
    instance = harness.get(instance_id)
    assert instance.trail == [("A", "succeeded"), ("H", "canceled")]
    assert instance.entries("H")[0].completed_at is not None


def test_cancel_leaves_other_instances_alone(harness) -> None:
    wf, _ = waiting_workflow()
    keep, drop = harness.start(wf), harness.start(wf)
    harness.cancel(drop, "x")
    kept = harness.get(keep)
    assert (kept.status, kept.current_step) == ("waiting", "H")
    if harness.has_tasks:
        assert [t["status"] for t in harness.tasks(keep)] == ["pending"]
    harness.complete(keep, "H", "u1", {})
    assert harness.get(keep).status == "completed"


@pytest.mark.parametrize("final_status", ["completed", "failed", "canceled"])
def test_cancel_a_finished_instance_raises_and_changes_nothing(harness, final_status) -> None:
    if final_status == "completed":
        instance_id = harness.start(workflow([marker("A")], []))
    elif final_status == "failed":
        instance_id = harness.start(workflow([Step("F", boom)], []))
    else:
        wf, _ = waiting_workflow()
        instance_id = harness.start(wf)
        harness.cancel(instance_id, "first")
    assert harness.get(instance_id).status == final_status
    before = harness.fingerprint()
    with pytest.raises(WorkflowAlreadyCompletedError) as excinfo:
        harness.cancel(instance_id, "again")
    assert isinstance(excinfo.value, ValueError)
    assert final_status in str(excinfo.value)
    assert harness.fingerprint() == before


# -- retry ----------------------------------------------------------------------------------


def test_retry_runs_the_failed_step_again_and_goes_on(harness, bus) -> None:
    flaky = Flaky()
    wf, a, _, c = failing_workflow(flaky)
    instance_id = harness.start(wf, {"x": 1})
    assert harness.get(instance_id).status == "failed"
    harness.retry(instance_id)
    instance = harness.get(instance_id)
    assert (instance.status, instance.error, instance.current_step) == ("completed", None, None)
    assert instance.completed_at is not None
    assert instance.data == {"x": 1, "a_done": True, "done": 2, "c_done": True}
    assert instance.trail == [
        ("A", "succeeded"),
        ("F", "failed"),
        ("F", "succeeded"),
        ("C", "succeeded"),
    ]
    assert instance.history[1].error == "attempt 1 failed"
    assert instance.history[2].output == {"attempt": 2}
    assert (a.calls, c.calls) == (1, 1)
    assert bus.of("workflow.retried") == [{"instance_id": instance_id, "step_name": "F"}]
    assert bus.names("workflow.") == [
        "workflow.started",
        "workflow.failed",
        "workflow.retried",
        "workflow.completed",
    ]


def test_retry_from_a_named_step_runs_the_steps_again_from_there(harness) -> None:
    wf, a, _, _ = failing_workflow(Flaky())
    instance_id = harness.start(wf)
    harness.retry(instance_id, from_step="A")
    instance = harness.get(instance_id)
    assert instance.status == "completed"
    assert instance.names == ["A", "F", "A", "F", "C"]
    assert a.calls == 2


def test_retry_of_a_still_failing_step_fails_again(harness, bus) -> None:
    wf, _, f, _ = failing_workflow()
    instance_id = harness.start(wf)
    harness.retry(instance_id)
    instance = harness.get(instance_id)
    assert (instance.status, instance.error, instance.current_step) == ("failed", "boom", "F")
    assert instance.trail == [("A", "succeeded"), ("F", "failed"), ("F", "failed")]
    assert f.calls == 2
    assert len(bus.of("workflow.failed")) == 2


def test_retry_of_an_instance_failed_at_a_missing_step(harness) -> None:
    wf = workflow([marker("A"), marker("B")], [Edge("A", "ghost")])
    instance_id = harness.start(wf)
    assert harness.get(instance_id).status == "failed"
    harness.retry(instance_id, from_step="B")
    instance = harness.get(instance_id)
    assert (instance.status, instance.names) == ("completed", ["A", "B"])


def test_retry_from_an_unknown_step_raises_and_changes_nothing(harness) -> None:
    wf, *_ = failing_workflow()
    instance_id = harness.start(wf)
    before = harness.fingerprint()
    with pytest.raises(InvalidTransitionError):
        harness.retry(instance_id, from_step="no_such_step")
    assert harness.fingerprint() == before
    assert harness.get(instance_id).names == ["A", "F"]


def test_retry_of_a_waiting_instance_raises_and_changes_nothing(harness) -> None:
    wf, _ = waiting_workflow()
    instance_id = harness.start(wf)
    before = harness.fingerprint()
    with pytest.raises(WorkflowStateError) as excinfo:
        harness.retry(instance_id)
    assert isinstance(excinfo.value, ValueError)
    assert harness.fingerprint() == before


@pytest.mark.parametrize("final_status", ["completed", "canceled"])
def test_retry_of_a_finished_instance_raises_and_changes_nothing(harness, final_status) -> None:
    if final_status == "completed":
        instance_id = harness.start(workflow([marker("A")], []))
    else:
        wf, _ = waiting_workflow()
        instance_id = harness.start(wf)
        harness.cancel(instance_id, "stop")
    before = harness.fingerprint()
    with pytest.raises(WorkflowAlreadyCompletedError) as excinfo:
        harness.retry(instance_id)
    assert isinstance(excinfo.value, ValueError)
    assert harness.fingerprint() == before
