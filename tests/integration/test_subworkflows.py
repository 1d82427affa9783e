"""Subworkflows, what only the persistent engine has: the parent waits without a lease,
the child rows (parent link, tenant, creator), worker mode, the events' dataclasses. What
every engine does (output, retries, for_each, parent close, suspension) is in
tests/engine_contract/test_subworkflows.py."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.test import override_settings

from tests.integration.helpers import Edge, Step, definition, human, marker, workflow
from workflows_app import SubworkflowStep
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


def test_parent_waits_without_a_lease_until_the_child_ends(engine, registry) -> None:
    register_child(registry, human("approve"))
    step = SubworkflowStep(name="call", workflow="child", output={"ok": "ok"})
    started = engine.start_workflow_sync(parent(step))
    assert started.status == WorkflowStatus.WAITING
    held = row(started.id)
    assert (held.status, held.lease_owner, held.wake_at) == ("waiting", None, None)
    [child] = children(started.id)
    assert (child.status, child.parent_step, child.parent_id) == ("waiting", "call", started.id)

    engine.complete_human_task_sync(child.pk, "approve", "bob", {"ok": True})
    done = row(started.id)
    assert done.status == "completed"
    assert done.context_data["ok"] is True and done.context_data["b_done"] is True


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
