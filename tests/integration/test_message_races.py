"""Publishes racing for one subscription, in real threads (PostgreSQL only): exactly one
delivers, the other buffers (with a ttl) or finds nobody waiting."""

from __future__ import annotations

from functools import partial

import pytest

from tests.integration.helpers import Edge, marker, workflow
from tests.integration.test_concurrency import race
from workflows_app import MessageStep, WorkflowRegistry
from workflows_app.core.types import MessageStatus, PublishOutcome
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import (
    MessageModel,
    MessageSubscriptionModel,
    StepExecutionModel,
    WorkflowInstanceModel,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROUNDS = 3


def setup() -> tuple[WorkflowRegistry, type]:
    registry = WorkflowRegistry()
    step = MessageStep(name="paid", message="payment_received", correlation_key="order_id")
    wf = workflow(
        [marker("A"), step, marker("B")], [Edge("A", "paid"), Edge("paid", "B")], name="race_msg"
    )
    registry.register(wf)
    return registry, wf


def publish(registry: WorkflowRegistry, key: str, amount: int, **kwargs):
    engine = PersistentExecutionEngine(registry)
    return partial(
        engine.publish_message_sync, "payment_received", key, {"amount": amount}, **kwargs
    )


@pytest.mark.parametrize("ttl", [None, 60])
def test_two_publishes_race_for_one_subscription(ttl) -> None:
    registry, wf = setup()
    for round_ in range(ROUNDS):
        key = f"o{round_}-{ttl}"
        instance = PersistentExecutionEngine(registry).start_workflow_sync(wf, {"order_id": key})
        results = race(publish(registry, key, 1, ttl=ttl), publish(registry, key, 2, ttl=ttl))

        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors
        outcomes = sorted(str(r.outcome) for r in results)
        other = PublishOutcome.BUFFERED if ttl else PublishOutcome.DROPPED
        assert outcomes == sorted([PublishOutcome.DELIVERED, other]), results
        winner = next(r for r in results if r.outcome == PublishOutcome.DELIVERED)
        assert winner.instance_id == instance.id

        row = WorkflowInstanceModel.objects.get(pk=instance.id)
        assert row.status == "completed"
        paid = StepExecutionModel.objects.filter(instance_id=instance.id, step_name="paid")
        assert list(paid.values_list("status", flat=True)) == ["succeeded"]
        assert (
            StepExecutionModel.objects.filter(instance_id=instance.id, step_name="B").count() == 1
        )
        assert not MessageSubscriptionModel.objects.filter(instance_id=instance.id).exists()
        kept = MessageModel.objects.filter(correlation_value=key)
        if ttl:
            [buffered] = kept
            assert buffered.status == MessageStatus.BUFFERED
            assert buffered.payload["amount"] != row.context_data["paid"]["amount"]
        else:
            assert not kept.exists()


def test_two_publishes_of_one_message_id_deliver_once() -> None:
    registry, wf = setup()
    engine = PersistentExecutionEngine(registry)
    for round_ in range(ROUNDS):
        key = f"dup{round_}"
        first = engine.start_workflow_sync(wf, {"order_id": key})
        second = engine.start_workflow_sync(wf, {"order_id": key})
        results = race(
            publish(registry, key, 1, message_id=f"id-{key}", ttl=60),
            publish(registry, key, 2, message_id=f"id-{key}", ttl=60),
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors
        outcomes = sorted(str(r.outcome) for r in results)
        assert outcomes == ["delivered", "duplicate"], results
        statuses = {WorkflowInstanceModel.objects.get(pk=pk).status for pk in (first.id, second.id)}
        assert statuses == {"completed", "waiting"}


def test_a_publish_races_a_step_that_starts_waiting() -> None:
    """A message buffered while a branch parks at its step reaches it either way."""
    registry, wf = setup()
    for round_ in range(ROUNDS):
        key = f"park{round_}"
        start = partial(
            PersistentExecutionEngine(registry).start_workflow_sync, wf, {"order_id": key}
        )
        results = race(start, publish(registry, key, 7, ttl=60))
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors
        instance_id = results[0].id
        row = WorkflowInstanceModel.objects.get(pk=instance_id)
        assert row.status == "completed", (row.status, results[1])
        assert row.context_data["paid"] == {"amount": 7}
        assert not MessageModel.objects.filter(correlation_value=key).exists()


def test_two_publishes_start_one_instance_per_key() -> None:
    from workflows_app import WorkflowDefinition

    registry = WorkflowRegistry()
    step = MessageStep(name="paid", message="payment_received", correlation_key="order_id")
    registry.register_definition(
        WorkflowDefinition(
            name="race_start",
            version="1.0.0",
            description="",
            steps={"A": marker("A"), "paid": step},
            edges=[Edge("A", "paid")],
            initial_step="A",
            terminal_steps={"paid"},
            start_on_message="order_placed",
            correlation_key="order_id",
        )
    )
    for round_ in range(ROUNDS):
        key = f"start{round_}"

        results = race(
            *(
                partial(
                    PersistentExecutionEngine(registry).publish_message_sync,
                    "order_placed",
                    key,
                    {"n": amount},
                )
                for amount in (1, 2)
            )
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors
        assert sorted(str(r.outcome) for r in results) == ["dropped", "started"], results
        started = WorkflowInstanceModel.objects.filter(workflow_name="race_start")
        assert started.filter(context_data__order_id=key).count() == 1
