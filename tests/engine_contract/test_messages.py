"""Message steps wait for the message of their name and correlation key (docs/messages.rst)."""

from __future__ import annotations

from tests.engine_contract.kit import Edge, marker, workflow
from workflows_app import MessageStep


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
