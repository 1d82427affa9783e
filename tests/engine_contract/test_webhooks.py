"""Webhook steps wait for their callback; the callback token resumes them once."""

from __future__ import annotations

import pytest

from tests.engine_contract.kit import Edge, human, marker, workflow
from workflows_app import (
    CallbackNotFoundError,
    WebhookStep,
    WorkflowStateError,
    WorkflowValidationError,
)


def bank_transfer():
    after = marker("after")
    wf = workflow(
        [marker("A"), WebhookStep(name="bank", callback_key="transfer"), after],
        [Edge("A", "bank"), Edge("bank", "after")],
    )
    return wf, after


def test_a_webhook_step_waits_with_an_unguessable_token(harness, bus) -> None:
    wf, after = bank_transfer()
    instance = harness.get(harness.start(wf))
    assert (instance.status, instance.current_step, after.calls) == ("waiting", "bank", 0)
    assert instance.names == ["A"]
    token = instance.data["bank_callback_token"]
    assert len(token) >= 40
    assert bus.of("webhook.waiting") == [
        {"instance_id": instance.id, "step_name": "bank", "callback_token": token}
    ]
    assert bus.of("workflow.waiting") == [{"instance_id": instance.id, "step_name": "bank"}]
    if harness.has_tasks:
        assert harness.tasks(instance.id) == []  # nothing for people to do


def test_the_callback_stores_its_payload_and_runs_on(harness) -> None:
    wf, after = bank_transfer()
    instance_id = harness.start(wf)
    token = harness.get(instance_id).data["bank_callback_token"]
    harness.webhook(token, {"amount": 12.5, "ok": True})
    instance = harness.get(instance_id)
    assert (instance.status, after.calls) == ("completed", 1)
    assert instance.data["transfer"] == {"amount": 12.5, "ok": True}
    assert instance.trail == [("A", "succeeded"), ("bank", "succeeded"), ("after", "succeeded")]
    assert instance.entries("bank")[0].output == {"transfer": {"amount": 12.5, "ok": True}}


def test_a_token_works_once(harness) -> None:
    wf, after = bank_transfer()
    instance_id = harness.start(wf)
    token = harness.get(instance_id).data["bank_callback_token"]
    harness.webhook(token, {"paid": True})
    before = harness.fingerprint()
    with pytest.raises(WorkflowStateError, match="no longer waiting"):
        harness.webhook(token, {"again": True})
    assert harness.fingerprint() == before
    assert after.calls == 1


@pytest.mark.parametrize("token", ["", "nope", "x" * 500, None])
def test_an_unknown_token_raises_and_changes_nothing(harness, token) -> None:
    wf, _ = bank_transfer()
    instance_id = harness.start(wf)
    real = harness.get(instance_id).data["bank_callback_token"]
    before = harness.fingerprint()
    with pytest.raises(CallbackNotFoundError) as raised:
        harness.webhook(token if token != "nope" else "not-" + real, {})
    assert isinstance(raised.value, KeyError)
    assert real not in str(raised.value)  # the message never echoes tokens
    assert "nope" not in str(raised.value)
    assert harness.fingerprint() == before


def test_a_payload_that_is_not_json_is_refused(harness) -> None:
    wf, _ = bank_transfer()
    instance_id = harness.start(wf)
    token = harness.get(instance_id).data["bank_callback_token"]
    before = harness.fingerprint()
    with pytest.raises(WorkflowValidationError, match="JSON"):
        harness.webhook(token, {"when": object()})
    assert harness.fingerprint() == before
    assert harness.get(instance_id).status == "waiting"


def test_a_callback_after_cancel_raises(harness) -> None:
    wf, after = bank_transfer()
    instance_id = harness.start(wf)
    token = harness.get(instance_id).data["bank_callback_token"]
    harness.cancel(instance_id, "stop")
    with pytest.raises(WorkflowStateError):
        harness.webhook(token, {})
    assert harness.get(instance_id).status == "canceled"
    assert after.calls == 0


def test_a_webhook_and_a_human_step_on_parallel_branches(harness) -> None:
    join = marker("join")
    wf = workflow(
        [marker("start"), WebhookStep(name="bank"), human("check"), join],
        [
            Edge("start", "bank"),
            Edge("start", "check"),
            Edge("bank", "join"),
            Edge("check", "join"),
        ],
    )
    instance_id = harness.start(wf)
    token = harness.get(instance_id).data["bank_callback_token"]
    harness.webhook(token, {"paid": 1})
    middle = harness.get(instance_id)
    assert (middle.status, middle.current_step) == ("waiting", "check")
    harness.complete(instance_id, "check", "u1", {"ok": True})
    done = harness.get(instance_id)
    assert done.status == "completed"
    assert (done.data["webhook_data"], done.data["ok"]) == ({"paid": 1}, True)
    assert done.names[-1] == "join"
    assert join.calls == 1


def test_a_branch_retried_after_its_callback_waits_for_a_new_token(harness) -> None:
    """The callback resumed the branch, routing after it failed, and a retry made it wait
    again: only the new token resumes it; the first one is used up."""

    def broken(ctx):
        raise LookupError("no route")

    wf = workflow(
        [WebhookStep(name="bank"), marker("after")],
        [Edge("bank", "after", broken)],
    )
    instance_id = harness.start(wf)
    first = harness.get(instance_id).data["bank_callback_token"]
    harness.webhook(first, {"paid": 1})
    assert harness.get(instance_id).status == "failed"
    harness.retry(instance_id)
    second = harness.get(instance_id).data["bank_callback_token"]
    assert second != first
    before = harness.fingerprint()
    with pytest.raises((CallbackNotFoundError, WorkflowStateError)):
        harness.webhook(first, {"paid": 2})
    assert harness.fingerprint() == before
