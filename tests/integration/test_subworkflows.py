"""Subworkflows in the persistent engine: a SubworkflowStep starts children (in the commit
that parks its branch), the parent waits without a lease, and a child's end resumes it in
the same transaction; failed children are retried by the step's policy; for_each joins;
parent close policies; suspension; worker mode."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings

from tests.integration.helpers import Edge, Step, definition, human, marker, workflow
from workflows_app import RetryPolicy, SubworkflowStep
from workflows_app.core.types import WorkflowStatus
from workflows_app.engine.worker import Worker
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db(transaction=True)

worker_mode = override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"})


def row(instance_id: Any) -> WorkflowInstanceModel:
    return WorkflowInstanceModel.objects.get(pk=instance_id)


def children(parent_id: Any) -> list[WorkflowInstanceModel]:
    return list(WorkflowInstanceModel.objects.filter(parent_id=parent_id).order_by("started_at"))


def register_child(registry: Any, *steps: Any, name: str = "child") -> None:
    edges = [Edge(a.name, b.name) for a, b in itertools.pairwise(steps)]
    registry.register_definition(definition(list(steps), edges, name=name))


def doubler() -> Step:
    return Step("double", lambda ctx: ctx.set("doubled", ctx.get("n", 0) * 2))


def parent(step: SubworkflowStep) -> type:
    return workflow([marker("A"), step, marker("B")], [Edge("A", step.name), Edge(step.name, "B")])


def test_declaration_is_checked() -> None:
    with pytest.raises(ValueError, match="workflow="):
        SubworkflowStep(name="s")
    with pytest.raises(ValueError, match="on_parent_close"):
        SubworkflowStep(name="s", workflow="w", on_parent_close="kill")
    with pytest.raises(ValueError, match="input"):
        SubworkflowStep(name="s", workflow="w", input={"a": 1})


def test_child_completes_and_returns_its_output(engine, registry) -> None:
    register_child(registry, doubler())
    step = SubworkflowStep(
        name="call", workflow="child", input={"n": "amount"}, output={"twice": "doubled"}
    )
    started = engine.start_workflow_sync(
        parent(step), {"amount": 21}, tenant_id="t1", created_by="ann"
    )

    assert started.status == WorkflowStatus.COMPLETED
    assert started.context.data["twice"] == 42
    [child] = children(started.id)
    assert (child.status, child.parent_step, child.tenant_id, child.created_by) == (
        "completed",
        "call",
        "t1",
        "ann",
    )
    assert child.context_data == {"n": 21, "doubled": 42}  # nothing else passed
    assert child.metadata["parent"]["instance_id"] == str(started.id)


def test_parent_waits_without_a_lease_until_the_child_ends(engine, registry) -> None:
    register_child(registry, human("approve"))
    step = SubworkflowStep(name="call", workflow="child", output={"ok": "ok"})
    started = engine.start_workflow_sync(parent(step))
    assert started.status == WorkflowStatus.WAITING
    held = row(started.id)
    assert (held.status, held.lease_owner, held.wake_at) == ("waiting", None, None)
    [child] = children(started.id)
    assert child.status == "waiting"

    engine.complete_human_task_sync(child.pk, "approve", "bob", {"ok": True})
    done = row(started.id)
    assert done.status == "completed"
    assert done.context_data["ok"] is True and done.context_data["b_done"] is True


def test_unknown_workflow_fails_the_step_clearly(engine) -> None:
    started = engine.start_workflow_sync(parent(SubworkflowStep(name="call", workflow="nope")))
    assert started.status == WorkflowStatus.FAILED
    assert "Subworkflow step 'call' failed" in started.error
    assert "nope" in started.error


def test_failed_child_is_retried_by_the_parents_policy(engine, registry) -> None:
    calls = {"n": 0}

    def flaky(ctx: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("card declined")
        ctx.set("paid", True)

    register_child(registry, Step("pay", flaky))
    policy = RetryPolicy(max_attempts=2, initial_interval=timedelta(0), jitter=0)
    step = SubworkflowStep(
        name="call", workflow="child", output={"paid": "paid"}, retry_policy=policy
    )
    started = engine.start_workflow_sync(parent(step))
    assert row(started.id).status == "running"  # the retry is scheduled: a worker runs it
    Worker(engine, burst=True).run()
    done = row(started.id)
    assert done.status == "completed" and done.context_data["paid"] is True
    first, second = children(started.id)
    assert (first.status, second.status) == ("failed", "completed")


def test_failed_child_without_retry_fails_the_parent_with_its_error(engine, registry) -> None:
    def broken(ctx: Any) -> None:
        raise RuntimeError("card declined")

    register_child(registry, Step("pay", broken))
    started = engine.start_workflow_sync(parent(SubworkflowStep(name="call", workflow="child")))
    assert started.status == WorkflowStatus.FAILED
    assert "card declined" in started.error and "Subworkflow 'child'" in started.error


def test_canceled_child_fails_the_step(engine, registry) -> None:
    register_child(registry, human("approve"))
    started = engine.start_workflow_sync(parent(SubworkflowStep(name="call", workflow="child")))
    [child] = children(started.id)
    engine.cancel_workflow_sync(child.pk, "not needed")
    failed = row(started.id)
    assert failed.status == "failed" and "canceled" in failed.error


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("terminate", "canceled"), ("request_cancel", "canceled"), ("abandon", "waiting")],
)
def test_canceled_parent_under_each_policy(engine, registry, policy, expected) -> None:
    register_child(registry, human("approve"))
    step = SubworkflowStep(name="call", workflow="child", on_parent_close=policy)
    started = engine.start_workflow_sync(parent(step))
    engine.cancel_workflow_sync(started.id, "order withdrawn")
    [child] = children(started.id)
    assert child.status == expected
    if expected == "waiting":  # abandoned: it runs on and resumes nothing
        engine.complete_human_task_sync(child.pk, "approve", "bob", {})
        assert row(child.pk).status == "completed"
        assert row(started.id).status == "canceled"


def test_for_each_children_are_joined_in_item_order(engine, registry) -> None:
    register_child(
        registry, human("order"), Step("done", lambda ctx: ctx.set("got", ctx.get("item")))
    )
    step = SubworkflowStep(
        name="call", workflow="child", for_each="devices", output={"device": "got"}
    )
    started = engine.start_workflow_sync(parent(step), {"devices": ["laptop", "phone", "badge"]})
    kids = children(started.id)
    assert [
        k.context_data["item"] for k in sorted(kids, key=lambda k: k.metadata["parent"]["index"])
    ] == [
        "laptop",
        "phone",
        "badge",
    ]
    for kid in reversed(kids):  # in any order
        assert row(started.id).status == "waiting"
        engine.complete_human_task_sync(kid.pk, "order", "bob", {})
    done = row(started.id)
    assert done.status == "completed"
    assert done.context_data["call_results"] == [
        {"device": "laptop"},
        {"device": "phone"},
        {"device": "badge"},
    ]


def test_for_each_failure_fails_the_step_and_cancels_the_others(engine, registry) -> None:
    register_child(registry, human("order"))
    step = SubworkflowStep(name="call", workflow="child", for_each="devices")
    started = engine.start_workflow_sync(parent(step), {"devices": [1, 2, 3]})
    first, *others = children(started.id)
    engine.cancel_workflow_sync(first.pk, "out of stock")
    assert row(started.id).status == "failed"
    assert {row(k.pk).status for k in others} == {"canceled"}


def test_for_each_without_items_skips_the_step(engine, registry) -> None:
    register_child(registry, human("order"))
    step = SubworkflowStep(name="call", workflow="child", for_each="devices")
    started = engine.start_workflow_sync(parent(step), {"devices": []})
    assert started.status == WorkflowStatus.COMPLETED
    assert started.context.data["call_results"] == []
    assert children(started.id) == []


def test_suspended_parent_keeps_the_childs_end_until_resumed(engine, registry) -> None:
    register_child(registry, human("approve"))
    step = SubworkflowStep(name="call", workflow="child", output={"ok": "ok"})
    started = engine.start_workflow_sync(parent(step))
    [child] = children(started.id)
    engine.suspend_sync(started.id, "audit", by="ops")
    engine.complete_human_task_sync(child.pk, "approve", "bob", {"ok": 1})
    held = row(started.id)
    assert held.status == "suspended" and len(held.metadata["buffered_children"]) == 1
    resumed = engine.resume_sync(started.id, by="ops")
    assert resumed.status == WorkflowStatus.COMPLETED
    assert resumed.context.data["ok"] == 1
    assert "buffered_children" not in row(started.id).metadata


@worker_mode
def test_worker_mode__children_are_run_by_a_worker(engine, registry) -> None:
    register_child(registry, doubler())
    step = SubworkflowStep(
        name="call", workflow="child", input={"n": "amount"}, output={"x": "doubled"}
    )
    started = engine.start_workflow_sync(parent(step), {"amount": 5})
    assert started.status == WorkflowStatus.RUNNING
    Worker(engine, burst=True).run()
    done = row(started.id)
    assert done.status == "completed" and done.context_data["x"] == 10
    [child] = children(started.id)
    assert (child.status, child.lease_owner) == ("completed", None)


@worker_mode
def test_worker_mode__a_worker_thread_drives_parent_and_children(engine, registry) -> None:
    import threading

    register_child(registry, doubler())
    step = SubworkflowStep(
        name="call", workflow="child", for_each="items", input={"n": "n"}, output={"x": "doubled"}
    )
    started = engine.start_workflow_sync(parent(step), {"items": [1, 2], "n": 4})
    worker = Worker(engine, burst=True, poll_interval=0.01)
    thread = threading.Thread(target=worker._thread_loop)
    thread.start()
    thread.join(30)
    done = row(started.id)
    assert done.status == "completed"
    assert done.context_data["call_results"] == [{"x": 8}, {"x": 8}]


def test_in_memory_engine_fails_clearly() -> None:
    import asyncio

    from workflows_app import LocalExecutionEngine, WorkflowRegistry

    engine = LocalExecutionEngine(WorkflowRegistry())
    started = asyncio.run(engine.start_workflow(parent(SubworkflowStep(name="call", workflow="c"))))
    assert started.status == WorkflowStatus.FAILED
    assert "needs the persistent engine" in started.error


def test_events__each_takes_its_dataclass(engine, registry, bus) -> None:
    """subworkflow.waiting, .started and .ended reach the event bus with what their
    dataclasses take (see core.events.BY_EVENT)."""
    from workflows_app.core import events
    from workflows_app.core.clock import utcnow

    register_child(registry, doubler())
    step = SubworkflowStep(name="call", workflow="child", input={"n": "amount"})
    started = engine.start_workflow_sync(parent(step), {"amount": 2})
    assert started.status == WorkflowStatus.COMPLETED
    sent = [(n, p) for n, p in bus.events if n.startswith("subworkflow.")]
    names = sorted(n for n, _ in sent)
    assert names == ["subworkflow.ended", "subworkflow.started", "subworkflow.waiting"]
    [child] = children(started.id)
    for name, payload in sent:
        event = events.BY_EVENT[name](timestamp=utcnow(), **payload)
        assert (event.instance_id, event.step_name) == (started.id, "call")
    by_name = dict(sent)
    assert by_name["subworkflow.waiting"]["children"] == [child.pk]
    assert by_name["subworkflow.started"]["child_id"] == child.pk
    assert (by_name["subworkflow.ended"]["child_id"], by_name["subworkflow.ended"]["status"]) == (
        child.pk,
        "completed",
    )
