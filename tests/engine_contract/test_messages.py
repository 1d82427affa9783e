"""Message steps wait for the message of their name and correlation key (docs/messages.rst)."""

from __future__ import annotations

import pytest

from tests.engine_contract.kit import Edge, marker, workflow
from workflows_app import MessageStep, WorkflowValidationError


def order():
    after = marker("after")
    wf = workflow(
        [
            marker("A"),
            MessageStep(name="paid", message="payment_received", correlation_key="order_id"),
            after,
        ],
        [Edge("A", "paid"), Edge("paid", "after")],
    )
    return wf, after


def test_a_message_step_waits_then_the_message_runs_it_on(harness, bus) -> None:
    wf, after = order()
    instance_id = harness.start(wf, {"order_id": 1042})
    waiting = harness.get(instance_id)
    assert (waiting.status, waiting.current_step, after.calls) == ("waiting", "paid", 0)
    assert bus.of("message.waiting") == [
        {
            "instance_id": instance_id,
            "step_name": "paid",
            "message_name": "payment_received",
            "correlation_key": "1042",
        }
    ]

    result = harness.publish("payment_received", "1042", {"amount": 5})

    assert (result.outcome, result.instance_id) == ("delivered", instance_id)
    done = harness.get(instance_id)
    assert (done.status, after.calls) == ("completed", 1)
    assert done.data["paid"] == {"amount": 5}
    assert done.trail == [("A", "succeeded"), ("paid", "succeeded"), ("after", "succeeded")]


def test_a_message_nobody_waits_for_is_buffered_for_its_ttl_or_dropped(harness) -> None:
    wf, after = order()
    assert harness.publish("payment_received", "7", {}).outcome == "dropped"
    assert harness.publish("payment_received", "7", {"n": 1}, ttl=60).outcome == "buffered"
    instance_id = harness.start(wf, {"order_id": 7})
    done = harness.get(instance_id)
    assert (done.status, done.data["paid"], after.calls) == ("completed", {"n": 1}, 1)


def test_a_buffered_message_whose_ttl_ran_out_is_not_delivered(harness) -> None:
    wf, _after = order()
    harness.publish("payment_received", "7", {"n": 1}, ttl=10)
    harness.advance(11)
    instance_id = harness.start(wf, {"order_id": 7})
    assert harness.get(instance_id).status == "waiting"


def test_a_repeated_message_id_is_ignored(harness) -> None:
    wf, _after = order()
    first = harness.start(wf, {"order_id": "k"})
    harness.advance(1)
    second = harness.start(wf, {"order_id": "k"})
    assert harness.publish("payment_received", "k", 1, message_id="m").instance_id == first
    assert harness.publish("payment_received", "k", 2, message_id="m").outcome == "duplicate"
    assert harness.get(second).status == "waiting"


def test_cancel_ends_the_wait(harness) -> None:
    wf, _ = order()
    instance_id = harness.start(wf, {"order_id": "k"})
    harness.cancel(instance_id, "no longer")
    assert harness.publish("payment_received", "k", 1).outcome == "dropped"
    assert harness.get(instance_id).status == "canceled"


def test_the_instance_that_has_waited_longest_receives_the_message(harness, bus) -> None:
    wf, _after = order()
    first = harness.start(wf, {"order_id": "k"})
    harness.advance(1)
    second = harness.start(wf, {"order_id": "k"})
    assert harness.publish("payment_received", "k", 1).instance_id == first
    assert harness.publish("payment_received", "k", 2).instance_id == second
    assert [e["instance_id"] for e in bus.of("message.delivered")] == [first, second]


def test_a_message_reaches_only_its_tenant(harness) -> None:
    wf, _after = order()
    instance_id = harness.start(wf, {"order_id": "k"}, tenant_id="t1")
    assert harness.publish("payment_received", "k", 1, tenant_id="t2").outcome == "dropped"
    assert harness.publish("payment_received", "k", 1).outcome == "dropped"
    assert harness.get(instance_id).status == "waiting"
    assert harness.publish("payment_received", "k", 1, tenant_id="t1").outcome == "delivered"


def test_a_message_for_a_suspended_instance_waits_for_the_resume(harness) -> None:
    wf, after = order()
    instance_id = harness.start(wf, {"order_id": "k"})
    harness.suspend(instance_id, "hold", by="ops")
    assert harness.publish("payment_received", "k", 1).outcome == "dropped"
    assert harness.publish("payment_received", "k", {"n": 2}, ttl=60).outcome == "buffered"
    assert (harness.get(instance_id).status, after.calls) == ("suspended", 0)
    harness.resume(instance_id, by="ops")
    done = harness.get(instance_id)
    assert (done.status, done.data["paid"], after.calls) == ("completed", {"n": 2}, 1)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("payment_received", None, {}), {}),
        (("payment_received", 1.5, {}), {}),
        (("", "k", {}), {}),
        (("payment_received", "k", {}), {"ttl": 0}),
        (("payment_received", "k", {}), {"ttl": "soon"}),
        (("payment_received", "k", {}), {"message_id": ""}),
    ],
)
def test_a_refused_publish_changes_nothing(harness, args, kwargs) -> None:
    wf, _after = order()
    harness.start(wf, {"order_id": "k"})
    before = harness.fingerprint()
    with pytest.raises(WorkflowValidationError):
        harness.publish(*args, **kwargs)
    assert harness.fingerprint() == before


def test_a_context_value_that_cannot_be_a_key_fails_the_branch(harness) -> None:
    wf, after = order()
    instance = harness.get(harness.start(wf, {"order_id": [1]}))
    assert (instance.status, after.calls) == ("failed", 0)
    assert "Message step 'paid'" in instance.error


def starter(harness):
    wf, _after = order()
    definition = wf.get_definition()
    definition.start_on_message = "order_placed"
    definition.correlation_key = "order_id"
    harness.registry.register(wf)
    return definition


def test_a_message_starts_one_running_instance_per_key(harness) -> None:
    starter(harness)
    result = harness.publish("order_placed", "o9", {"total": 3})
    assert result.outcome == "started"
    started = harness.get(result.instance_id)
    assert (started.status, started.data["order_id"], started.data["total"]) == (
        "waiting",
        "o9",
        3,
    )
    assert started.metadata["started_by_message"] == {
        "name": "order_placed",
        "correlation_key": "o9",
    }
    assert harness.publish("order_placed", "o9", {}).outcome == "dropped"
    assert harness.publish("order_placed", "o10", {}).outcome == "started"
    harness.publish("payment_received", "o9", {})
    assert harness.get(result.instance_id).status == "completed"
    again = harness.publish("order_placed", "o9", {})
    assert again.outcome == "started"
    assert again.instance_id != result.instance_id


def test_a_starting_message_must_agree_with_the_key(harness) -> None:
    starter(harness)
    before = harness.fingerprint()
    with pytest.raises(WorkflowValidationError, match="order_id"):
        harness.publish("order_placed", "o9", {"order_id": "o8"})
    with pytest.raises(WorkflowValidationError, match="object"):
        harness.publish("order_placed", "o9", [1])
    assert harness.fingerprint() == before
    assert harness.publish("order_placed", "o9", {}).outcome == "started"
