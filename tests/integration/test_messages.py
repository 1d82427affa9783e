"""Messages correlated by business key (the engine): who receives a published message,
when it is buffered, duplicates, starting instances, tenancy, suspension and cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.helpers import Edge, marker, names, workflow
from workflows_app import MessageStep, WorkflowValidationError
from workflows_app.core import clock
from workflows_app.core.types import MessageStatus, PublishOutcome, WorkflowStatus
from workflows_app.engine import messages
from workflows_app.models import MessageModel, MessageSubscriptionModel, WorkflowInstanceModel
from workflows_app.signals import message_buffered, message_delivered

pytestmark = pytest.mark.django_db


def payment(name: str = "pay") -> type:
    """A -> wait for payment_received on order_id -> B."""
    step = MessageStep(name="paid", message="payment_received", correlation_key="order_id")
    return workflow(
        [marker("A"), step, marker("B")], [Edge("A", "paid"), Edge("paid", "B")], name=name
    )


def row(instance_id: Any) -> WorkflowInstanceModel:
    return WorkflowInstanceModel.objects.get(pk=instance_id)


def test_message_step__waits_then_the_message_resumes_it(engine) -> None:
    started = engine.start_workflow_sync(payment(), {"order_id": 1042})
    assert started.status == WorkflowStatus.WAITING
    [sub] = MessageSubscriptionModel.objects.all()
    assert (sub.instance_id, sub.step_name, sub.message_name, sub.correlation_value) == (
        started.id,
        "paid",
        "payment_received",
        "1042",
    )

    result = engine.publish_message_sync("payment_received", "1042", {"amount": 12})

    assert (result.outcome, result.instance_id) == (PublishOutcome.DELIVERED, started.id)
    done = engine.get_instance_sync(started.id)
    assert done.status == WorkflowStatus.COMPLETED
    assert done.context.data["paid"] == {"amount": 12}
    assert names(done) == ["A", "paid", "B"]
    assert not MessageSubscriptionModel.objects.exists()


def test_message_step__the_correlation_value_is_read_once(engine) -> None:
    def change(ctx: Any) -> None:
        ctx.set("order_id", "other")

    from tests.integration.helpers import Step

    step = MessageStep(name="paid", message="m", correlation_key="order_id")
    wf = workflow(
        [Step("A"), step, Step("B")],
        [Edge("A", "paid"), Edge("paid", "B")],
    )
    started = engine.start_workflow_sync(wf, {"order_id": "k1"})
    WorkflowInstanceModel.objects.filter(pk=started.id).update(context_data={"order_id": "k2"})
    assert engine.publish_message_sync("m", "k2", 1).outcome == PublishOutcome.DROPPED
    assert engine.publish_message_sync("m", "k1", 1).outcome == PublishOutcome.DELIVERED


@pytest.mark.parametrize("value", [None, 1.5, ["a"], {"a": 1}, "", "x" * 256])
def test_message_step__a_value_that_is_no_key_fails_the_step(engine, value) -> None:
    data = {} if value is None else {"order_id": value}
    started = engine.start_workflow_sync(payment(), data)
    assert started.status == WorkflowStatus.FAILED
    assert "Message step 'paid'" in started.error
    assert "order_id" in started.error
    assert not MessageSubscriptionModel.objects.exists()


def test_publish__integers_and_text_are_the_same_key_booleans_are_words(engine) -> None:
    started = engine.start_workflow_sync(payment(), {"order_id": "7"})
    assert engine.publish_message_sync("payment_received", 7, {}).instance_id == started.id
    flagged = engine.start_workflow_sync(payment("p2"), {"order_id": True})
    assert engine.publish_message_sync("payment_received", "true", {}).instance_id == flagged.id


def test_publish__without_a_subscriber_buffers_for_the_ttl(engine, monkeypatch) -> None:
    now = {"at": datetime(2030, 1, 1, 9, 0, tzinfo=UTC)}
    monkeypatch.setattr(clock, "utcnow", lambda: now["at"])
    result = engine.publish_message_sync("payment_received", "o1", {"amount": 5}, ttl=60)
    assert result.outcome == PublishOutcome.BUFFERED
    assert result.expires_at == now["at"] + timedelta(seconds=60)
    [kept] = MessageModel.objects.all()
    assert (kept.status, kept.payload) == (MessageStatus.BUFFERED, {"amount": 5})

    now["at"] += timedelta(seconds=30)
    started = engine.start_workflow_sync(payment(), {"order_id": "o1"})

    assert started.status == WorkflowStatus.COMPLETED
    assert started.context.data["paid"] == {"amount": 5}
    assert not MessageModel.objects.exists()
    assert not MessageSubscriptionModel.objects.exists()


def test_publish__a_buffered_message_without_payload(engine) -> None:
    assert engine.publish_message_sync("payment_received", "o1", None, ttl=60).outcome == "buffered"
    assert MessageModel.objects.get().status == MessageStatus.BUFFERED
    started = engine.start_workflow_sync(payment(), {"order_id": "o1"})
    assert started.status == WorkflowStatus.COMPLETED
    assert started.context.data["paid"] is None


def test_publish__an_expired_buffered_message_is_ignored_and_pruned(engine, monkeypatch) -> None:
    now = {"at": datetime(2030, 1, 1, 9, 0, tzinfo=UTC)}
    monkeypatch.setattr(clock, "utcnow", lambda: now["at"])
    engine.publish_message_sync("payment_received", "o1", {}, ttl=timedelta(seconds=10))
    now["at"] += timedelta(seconds=11)
    started = engine.start_workflow_sync(payment(), {"order_id": "o1"})
    assert started.status == WorkflowStatus.WAITING
    assert messages.prune("default", now["at"]) == 1
    assert not MessageModel.objects.exists()


def test_publish__a_repeated_message_id_is_ignored(engine, monkeypatch) -> None:
    now = {"at": datetime(2030, 1, 1, 9, 0, tzinfo=UTC)}
    monkeypatch.setattr(clock, "utcnow", lambda: now["at"])
    wf = payment()
    first = engine.start_workflow_sync(wf, {"order_id": "o1"})
    now["at"] += timedelta(seconds=1)
    engine.start_workflow_sync(wf, {"order_id": "o1"})
    publish = lambda: engine.publish_message_sync(  # noqa: E731
        "payment_received", "o1", {}, message_id="m-1", ttl=60
    )
    assert publish().instance_id == first.id
    assert publish().outcome == PublishOutcome.DUPLICATE
    now["at"] += timedelta(seconds=61)
    assert publish().outcome == PublishOutcome.DELIVERED  # forgotten after the ttl
    # Without a ttl the id is remembered while the instance that received it is.
    third = engine.start_workflow_sync(wf, {"order_id": "o2"})
    once = lambda: engine.publish_message_sync("payment_received", "o2", {}, message_id="m-2")  # noqa: E731
    assert once().instance_id == third.id
    assert once().outcome == PublishOutcome.DUPLICATE
    # Buffered ones too.
    assert engine.publish_message_sync("x", "k", {}, message_id="m-3", ttl=5).outcome == "buffered"
    assert engine.publish_message_sync("x", "k", {}, message_id="m-3", ttl=5).outcome == "duplicate"
    # Per tenant.
    other = engine.publish_message_sync("x", "k", {}, message_id="m-3", ttl=5, tenant_id="t")
    assert other.outcome == PublishOutcome.BUFFERED


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        (("", "k", {}), {}, "name"),
        (("m", None, {}), {}, "correlation key"),
        (("m", 1.5, {}), {}, "correlation key"),
        (("m", "k", float("nan")), {}, "payload"),
        (("m", "k", {"a": "\x00"}), {}, "payload"),
        (("m", "k", {}), {"ttl": 0}, "ttl"),
        (("m", "k", {}), {"ttl": -1}, "ttl"),
        (("m", "k", {}), {"ttl": float("inf")}, "ttl"),
        (("m", "k", {}), {"ttl": 10**12}, "ttl"),
        (("m", "k", {}), {"ttl": True}, "ttl"),
        (("m", "k", {}), {"ttl": "60"}, "ttl"),
        (("m", "k", {}), {"message_id": ""}, "message_id"),
        (("m", "k", {}), {"message_id": 5}, "message_id"),
    ],
)
def test_publish__bad_input_is_refused_and_changes_nothing(engine, args, kwargs, problem) -> None:
    started = engine.start_workflow_sync(payment(), {"order_id": "k"})
    before = row(started.id).lock_version
    with pytest.raises(WorkflowValidationError, match=problem):
        engine.publish_message_sync(*args, **kwargs)
    assert row(started.id).lock_version == before
    assert MessageSubscriptionModel.objects.count() == 1
    assert not MessageModel.objects.exists()


def test_publish__a_deep_payload_is_refused(engine) -> None:
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(WorkflowValidationError, match="payload"):
        engine.publish_message_sync("m", "k", deep)


def test_cancel__removes_the_subscriptions(engine) -> None:
    started = engine.start_workflow_sync(payment(), {"order_id": "o1"})
    engine.cancel_workflow_sync(started.id, "no longer needed")
    assert not MessageSubscriptionModel.objects.exists()
    assert engine.publish_message_sync("payment_received", "o1", {}).outcome == "dropped"


def test_suspended__passed_over_and_a_buffered_message_is_delivered_on_resume(engine) -> None:
    started = engine.start_workflow_sync(payment(), {"order_id": "o1"})
    engine.suspend_sync(started.id, "incident", by="ops")

    assert engine.publish_message_sync("payment_received", "o1", {}).outcome == "dropped"
    held = engine.publish_message_sync("payment_received", "o1", {"n": 2}, ttl=300)
    assert held.outcome == PublishOutcome.BUFFERED
    assert row(started.id).status == WorkflowStatus.SUSPENDED

    resumed = engine.resume_sync(started.id, by="ops")

    assert resumed.status == WorkflowStatus.COMPLETED
    assert resumed.context.data["paid"] == {"n": 2}
    assert not MessageModel.objects.exists()


def test_signals__delivered_and_buffered(engine, committed) -> None:
    heard: list[tuple[str, dict[str, Any]]] = []

    def receiver(sender: Any, event: str, **kwargs: Any) -> None:
        heard.append((event, kwargs))

    message_delivered.connect(receiver)
    message_buffered.connect(receiver)
    try:
        started = engine.start_workflow_sync(payment(), {"order_id": "o1"})
        with committed():
            engine.publish_message_sync("payment_received", "o1", {}, message_id="a")
        with committed():
            engine.publish_message_sync("payment_received", "o2", {}, ttl=5)
    finally:
        message_delivered.disconnect(receiver)
        message_buffered.disconnect(receiver)
    assert [event for event, _ in heard] == ["message.delivered", "message.buffered"]
    assert heard[0][1]["instance_id"] == started.id
    assert heard[0][1]["message_id"] == "a"
    assert heard[1][1]["correlation_key"] == "o2"


def test_parallel_branches_each_wait_for_their_message(engine) -> None:
    from workflows_app import ParallelGateway

    split = ParallelGateway(name="split", branches=["a", "b"])
    wf = workflow(
        [
            split,
            MessageStep(name="a", message="ma", correlation_key="k"),
            MessageStep(name="b", message="mb", correlation_key="k"),
            marker("J"),
        ],
        [Edge("a", "J"), Edge("b", "J")],
    )
    started = engine.start_workflow_sync(wf, {"k": "x"})
    assert MessageSubscriptionModel.objects.count() == 2
    assert engine.publish_message_sync("mb", "x", "B").outcome == "delivered"
    assert engine.get_instance_sync(started.id).status == WorkflowStatus.WAITING
    assert engine.publish_message_sync("ma", "x", "A").outcome == "delivered"
    done = engine.get_instance_sync(started.id)
    assert (done.context.data["a"], done.context.data["b"]) == ("A", "B")


def test_worker_mode__a_worker_subscribes_and_runs_on_after_the_delivery(engine) -> None:
    from django.test import override_settings

    from workflows_app.engine.worker import Worker

    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
        started = engine.start_workflow_sync(payment(), {"order_id": "o1"})
        assert not MessageSubscriptionModel.objects.exists()  # nothing ran yet
        Worker(engine, burst=True, listen=False).run()
        assert row(started.id).status == WorkflowStatus.WAITING
        result = engine.publish_message_sync("payment_received", "o1", {"x": 1})
        assert result.outcome == PublishOutcome.DELIVERED
        assert row(started.id).status == WorkflowStatus.RUNNING
        Worker(engine, burst=True, listen=False).run()
    done = row(started.id)
    assert done.status == WorkflowStatus.COMPLETED
    assert done.context_data["paid"] == {"x": 1}


def test_worker_mode__a_buffered_message_reaches_the_step_a_worker_parks(engine) -> None:
    from django.test import override_settings

    from workflows_app.engine.worker import Worker

    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
        engine.publish_message_sync("payment_received", "o1", {"x": 2}, ttl=600)
        started = engine.start_workflow_sync(payment(), {"order_id": "o1"})
        Worker(engine, burst=True, listen=False).run()
    done = row(started.id)
    assert done.status == WorkflowStatus.COMPLETED
    assert done.context_data["paid"] == {"x": 2}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
async def test_publish_message__async_twin(engine) -> None:
    started = await engine.start_workflow(payment(), {"order_id": "o1"})
    result = await engine.publish_message("payment_received", "o1", {"a": 1})
    assert result.instance_id == started.id


# -- the command -------------------------------------------------------------------------


def test_workflows_publish_message__delivers_buffers_and_refuses(monkeypatch) -> None:
    import json
    from io import StringIO

    from django.core.management import CommandError, call_command

    from workflows_app import WorkflowRegistry
    from workflows_app.core import registry as registry_module
    from workflows_app.engine.persistent import PersistentExecutionEngine

    fresh = WorkflowRegistry()
    monkeypatch.setattr(registry_module, "default_registry", fresh)
    monkeypatch.setattr("workflows_app.engine.persistent.default_registry", fresh)
    engine = PersistentExecutionEngine(fresh)
    started = engine.start_workflow_sync(payment(), {"order_id": "o1"})

    def run(*argv: str) -> dict[str, Any]:
        out = StringIO()
        call_command("workflows_publish_message", *argv, stdout=out)
        return json.loads(out.getvalue())

    delivered = run("payment_received", "o1", "--payload", '{"amount": 3}', "--message-id", "x")
    assert delivered == {"outcome": "delivered", "instance_id": str(started.id), "expires_at": None}
    assert row(started.id).context_data["paid"] == {"amount": 3}
    assert run("payment_received", "o1", "--message-id", "x")["outcome"] == "duplicate"
    assert run("payment_received", "o2", "--ttl", "30")["outcome"] == "buffered"
    assert run("payment_received", "o3")["outcome"] == "dropped"
    with pytest.raises(CommandError, match="ttl"):
        run("payment_received", "o2", "--ttl", "0")
    with pytest.raises(CommandError, match="JSON"):
        run("payment_received", "o2", "--payload", "{nope")
    with pytest.raises(CommandError, match="payload"):
        run("payment_received", "o2", "--payload", "NaN")


def test_workflows_prune__deletes_expired_messages(engine, monkeypatch) -> None:
    from io import StringIO

    from django.core.management import call_command

    engine.publish_message_sync("m", "k", {}, ttl=1)
    engine.publish_message_sync("m", "k2", {}, ttl=3600)
    later = clock.utcnow() + timedelta(seconds=5)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    out = StringIO()
    call_command("workflows_prune", "--days", "1", stdout=out)
    assert "Deleted 1 expired message(s)." in out.getvalue()
    assert list(MessageModel.objects.values_list("correlation_value", flat=True)) == ["k2"]


# -- failed instances, other engines, migration -------------------------------------------


def test_failed__keeps_its_subscription_and_gets_a_buffered_message_on_retry(engine) -> None:
    from tests.integration.helpers import FlakyOnce, Step
    from workflows_app import ParallelGateway

    wf = workflow(
        [
            ParallelGateway(name="split", branches=["paid", "charge"]),
            MessageStep(name="paid", message="payment_received", correlation_key="order_id"),
            Step("charge", FlakyOnce()),
            marker("J"),
        ],
        [Edge("paid", "J"), Edge("charge", "J")],
    )
    started = engine.start_workflow_sync(wf, {"order_id": "o1"})
    assert started.status == WorkflowStatus.FAILED
    assert MessageSubscriptionModel.objects.filter(instance_id=started.id).count() == 1

    assert engine.publish_message_sync("payment_received", "o1", {}).outcome == "dropped"
    kept = engine.publish_message_sync("payment_received", "o1", {"n": 1}, ttl=60)
    assert kept.outcome == PublishOutcome.BUFFERED
    assert MessageSubscriptionModel.objects.filter(instance_id=started.id).count() == 1

    retried = engine.retry_sync(started.id)

    assert retried.status == WorkflowStatus.COMPLETED
    assert retried.context.data["paid"] == {"n": 1}
    assert not MessageModel.objects.exists()


def test_migration__a_waiting_message_step_keeps_its_subscription(engine) -> None:
    from workflows_app import MigrationPlan

    step = MessageStep(name="paid", message="payment_received", correlation_key="order_id")
    v1 = workflow([marker("A"), step], [Edge("A", "paid")], name="mig")
    v2 = workflow(
        [marker("A"), step, marker("N")],
        [Edge("A", "paid"), Edge("paid", "N")],
        name="mig",
        version="2.0.0",
    )
    engine.registry.register(v1)
    engine.registry.register(v2)
    started = engine.start_workflow_sync("mig", {"order_id": "o1"}, version="1.0.0")
    result = engine.migrate_instances_sync(MigrationPlan("mig", "1.0.0", "2.0.0"))
    assert result.moved == [started.id]
    assert MessageSubscriptionModel.objects.filter(instance_id=started.id).count() == 1

    delivered = engine.publish_message_sync("payment_received", "o1", {"x": 1})

    assert delivered.instance_id == started.id
    done = row(started.id)
    assert (done.status, done.workflow_version) == ("completed", "2.0.0")
    assert done.context_data["n_done"] is True


def test_migration__a_message_step_cannot_move_onto_a_step_of_another_kind(engine) -> None:
    from tests.integration.helpers import human
    from workflows_app import MigrationPlan

    step = MessageStep(name="paid", message="payment_received", correlation_key="order_id")
    v1 = workflow([marker("A"), step], [Edge("A", "paid")], name="mig2")
    v2 = workflow([marker("A"), human("H")], [Edge("A", "H")], name="mig2", version="2.0.0")
    engine.registry.register(v1)
    engine.registry.register(v2)
    started = engine.start_workflow_sync("mig2", {"order_id": "o1"}, version="1.0.0")
    with pytest.raises(WorkflowValidationError, match="message step"):
        engine.migrate_instances_sync(MigrationPlan("mig2", "1.0.0", "2.0.0", {"paid": "H"}))

    assert MessageSubscriptionModel.objects.filter(instance_id=started.id).count() == 1
    assert engine.publish_message_sync("payment_received", "o1", {}).instance_id == started.id


@pytest.mark.parametrize("message_id", ["m-1", None])
def test_publish__buffered_then_delivered_at_the_second_look_says_delivered(
    engine, monkeypatch, message_id
) -> None:
    """The publish's first look finds nobody (the branch's subscription commits just
    after it), so the message is buffered; its second look, after the commit, delivers
    it: the result says delivered, with the receiver when the message is remembered by
    its id (one without an id is deleted once delivered: the receiver is not known)."""
    started = engine.start_workflow_sync(payment(), {"order_id": 1042})
    first_look = messages._subscription
    looks: list[Any] = []

    def nobody_at_first(*args: Any, **kwargs: Any) -> Any:
        looks.append(args)
        return None if len(looks) == 1 else first_look(*args, **kwargs)

    monkeypatch.setattr(messages, "_subscription", nobody_at_first)

    result = engine.publish_message_sync(
        "payment_received", "1042", {"amount": 3}, message_id=message_id, ttl=60
    )

    receiver = started.id if message_id else None
    assert (result.outcome, result.instance_id) == (PublishOutcome.DELIVERED, receiver)
    assert result.to_dict()["outcome"] == "delivered"
    done = engine.get_instance_sync(started.id)
    assert (done.status, done.context.data["paid"]) == (WorkflowStatus.COMPLETED, {"amount": 3})
    stored = list(MessageModel.objects.values_list("status", "instance_id"))
    assert stored == ([(MessageStatus.DELIVERED, started.id)] if message_id else [])


def test_publish__buffered_and_nobody_took_it_says_buffered(engine) -> None:
    result = engine.publish_message_sync("payment_received", "1042", {"amount": 3}, ttl=60)
    assert (result.outcome, result.instance_id) == (PublishOutcome.BUFFERED, None)
    assert result.expires_at is not None
    [(status,)] = MessageModel.objects.values_list("status")
    assert status == MessageStatus.BUFFERED
