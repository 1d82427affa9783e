"""Suspend and resume (docs/suspension.rst): a suspended instance does nothing until it is
resumed; what falls due meanwhile waits and happens once on resume; webhook callbacks are
kept and applied in the order they arrived; cancel works at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.engine_contract.kit import Edge, Flaky, Step, human, marker, retrying, workflow
from workflows_app import TimerStep, WebhookStep, WorkflowStateError, WorkflowValidationError


def review():
    after = marker("B")
    return workflow([marker("A"), human("H"), after], [Edge("A", "H"), Edge("H", "B")]), after


def test_a_suspended_instance_refuses_its_human_step_until_resumed(harness, bus) -> None:
    wf, after = review()
    instance_id = harness.start(wf)
    harness.suspend(instance_id, "incident 42", by="ops")
    assert harness.get(instance_id).status == "suspended"
    if harness.has_tasks:
        assert [t["status"] for t in harness.tasks(instance_id)] == ["on_hold"]
    before = harness.fingerprint()
    with pytest.raises(WorkflowStateError, match="suspended"):
        harness.complete(instance_id, "H", "ann", {})
    assert harness.fingerprint() == before

    harness.resume(instance_id, by="ops")
    resumed = harness.get(instance_id)
    assert (resumed.status, resumed.current_step) == ("waiting", "H")
    audit = resumed.metadata["suspensions"]
    assert [(e["action"], e["by"]) for e in audit] == [("suspended", "ops"), ("resumed", "ops")]
    assert audit[0]["reason"] == "incident 42"
    assert bus.of("workflow.suspended") == [
        {"instance_id": instance_id, "reason": "incident 42", "suspended_by": "ops"}
    ]
    assert bus.of("workflow.resumed") == [{"instance_id": instance_id, "resumed_by": "ops"}]
    harness.complete(instance_id, "H", "ann", {})
    done = harness.get(instance_id)
    assert (done.status, done.names, after.calls) == ("completed", ["A", "H", "B"], 1)


def test_only_running_or_waiting_instances_are_suspended_and_only_suspended_resumed(
    harness,
) -> None:
    wf, _ = review()
    waiting = harness.start(wf)
    finished = harness.start(workflow([marker("A")], []))
    before = harness.fingerprint()
    with pytest.raises(WorkflowStateError, match="cannot be suspended"):
        harness.suspend(finished, "why", by="ops")
    with pytest.raises(WorkflowStateError, match="not suspended"):
        harness.resume(waiting, by="ops")
    for reason in ("", "   ", "x" * 501, None):
        with pytest.raises(WorkflowValidationError, match="reason"):
            harness.suspend(waiting, reason, by="ops")
    assert harness.fingerprint() == before

    harness.suspend(waiting, "once", by="ops")
    before = harness.fingerprint()
    with pytest.raises(WorkflowStateError, match="cannot be suspended"):
        harness.suspend(waiting, "twice", by="ops")
    harness.resume(waiting, by="ops")
    after_resume = harness.fingerprint()
    with pytest.raises(WorkflowStateError, match="not suspended"):
        harness.resume(waiting, by="ops")
    assert harness.fingerprint() == after_resume
    assert before != after_resume


def test_a_timer_that_falls_due_while_suspended_fires_once_on_resume(harness) -> None:
    after = marker("after")
    wf = workflow(
        [marker("A"), TimerStep("wait", timedelta(hours=1)), after],
        [Edge("A", "wait"), Edge("wait", "after")],
    )
    instance_id = harness.start(wf)
    harness.suspend(instance_id, "hold", by="ops")
    harness.advance(2 * 3600)
    held = harness.get(instance_id)
    assert (held.status, after.calls, held.names) == ("suspended", 0, ["A"])

    harness.resume(instance_id, by="ops")
    harness.advance(0)  # in inline mode a worker fires timers (the one due now too)
    done = harness.get(instance_id)
    assert (done.status, after.calls) == ("completed", 1)
    assert done.trail == [("A", "succeeded"), ("wait", "succeeded"), ("after", "succeeded")]
    harness.advance(2 * 3600)
    assert after.calls == 1


def test_a_retry_that_falls_due_while_suspended_runs_on_resume(harness) -> None:
    flaky = Flaky(failures=1)
    wf = workflow([retrying("try", flaky, max_attempts=3)], [])
    instance_id = harness.start(wf)
    assert (harness.get(instance_id).status, flaky.calls) == ("running", 1)
    harness.suspend(instance_id, "hold", by="ops")
    harness.advance(60)
    assert (harness.get(instance_id).status, flaky.calls) == ("suspended", 1)
    harness.resume(instance_id, by="ops")
    harness.advance(0)  # in inline mode a worker runs retries
    done = harness.get(instance_id)
    assert (done.status, flaky.calls, done.data["done"]) == ("completed", 2, 2)


def test_webhook_callbacks_are_kept_and_applied_in_arrival_order_on_resume(harness) -> None:
    seen: list[str] = []

    def note(name):
        return Step(name, lambda ctx: seen.append(name))

    wf = workflow(
        [
            marker("A"),
            WebhookStep(name="w1", callback_key="w1_payload"),
            WebhookStep(name="w2", callback_key="w2_payload"),
            note("x1"),
            note("x2"),
        ],
        [Edge("A", "w1"), Edge("A", "w2"), Edge("w1", "x1"), Edge("w2", "x2")],
    )
    instance_id = harness.start(wf)
    data = harness.get(instance_id).data
    harness.suspend(instance_id, "hold", by="ops")
    harness.webhook(data["w2_callback_token"], {"n": 2})
    harness.webhook(data["w1_callback_token"], {"n": 1})
    held = harness.get(instance_id)
    assert (held.status, seen) == ("suspended", [])
    assert [e["step_name"] for e in held.metadata["buffered_callbacks"]] == ["w2", "w1"]
    before = harness.fingerprint()
    with pytest.raises(WorkflowStateError, match="no longer waiting"):
        harness.webhook(data["w1_callback_token"], {"n": 3})
    assert harness.fingerprint() == before

    harness.resume(instance_id, by="ops")
    done = harness.get(instance_id)
    assert (done.status, seen) == ("completed", ["x2", "x1"])
    assert (done.data["w1_payload"], done.data["w2_payload"]) == ({"n": 1}, {"n": 2})
    assert "buffered_callbacks" not in done.metadata
    assert done.metadata["suspensions"][-1]["callbacks"] == 2


def test_cancel_works_at_once_on_a_suspended_instance_and_discards_its_callbacks(
    harness, bus
) -> None:
    after = marker("after")
    wf = workflow([WebhookStep(name="w"), after], [Edge("w", "after")])
    instance_id = harness.start(wf)
    token = harness.get(instance_id).data["w_callback_token"]
    harness.suspend(instance_id, "hold", by="ops")
    harness.webhook(token, {"late": True})
    harness.cancel(instance_id, "not needed")
    canceled = harness.get(instance_id)
    assert (canceled.status, after.calls) == ("canceled", 0)
    assert "buffered_callbacks" not in canceled.metadata
    assert canceled.trail == [("w", "canceled")]
    assert bus.of("workflow.canceled") == [{"instance_id": instance_id, "reason": "not needed"}]
    if harness.has_tasks:
        assert harness.tasks(instance_id) == []
    before = harness.fingerprint()
    with pytest.raises(WorkflowStateError):
        harness.resume(instance_id, by="ops")
    assert harness.fingerprint() == before
