"""Worker mode: calls commit and return; workers claim instances and run their steps."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from tests.integration.helpers import Step, executions, human, marker, workflow
from workflows_app import Edge
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.engine.worker import Worker
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db

worker_mode = override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"})


def _row(instance_id):
    return WorkflowInstanceModel.objects.get(pk=instance_id)


@worker_mode
def test_worker_mode__start_returns_at_once_and_a_worker_runs_the_steps(engine) -> None:
    a, b = marker("A"), marker("B")
    instance = engine.start_workflow_sync(workflow([a, b], [Edge("A", "B")]), {"x": 1})

    assert instance.status == "running" and a.calls == 0
    row = _row(instance.id)
    assert (row.status, row.lease_owner) == ("running", None)
    assert row.wake_at is not None

    assert Worker(engine, burst=True).run() == 1
    assert (a.calls, b.calls) == (1, 1)
    row = _row(instance.id)
    assert (row.status, row.lease_owner, row.wake_at) == ("completed", None, None)
    assert [r.step_name for r in executions(instance.id)] == ["A", "B"]


@worker_mode
def test_worker_mode__complete_commits_and_the_worker_runs_on(engine) -> None:
    after = marker("B")
    wf = workflow([marker("A"), human("H", title="Check"), after], [Edge("A", "H"), Edge("H", "B")])
    instance = engine.start_workflow_sync(wf)
    Worker(engine, burst=True).run()
    assert _row(instance.id).status == "waiting"

    result = engine.complete_human_task_sync(instance.id, "H", "u1", {"ok": True})
    assert result.status == "running" and after.calls == 0

    Worker(engine, burst=True).run()
    row = _row(instance.id)
    assert row.status == "completed" and after.calls == 1
    assert row.context_data["ok"] is True


@worker_mode
def test_worker__workflow_filter(engine) -> None:
    first = engine.start_workflow_sync(workflow([marker("A")], [], name="first"))
    second = engine.start_workflow_sync(workflow([marker("A")], [], name="second"))
    assert Worker(engine, burst=True, workflows=["second"]).run() == 1
    assert (_row(first.id).status, _row(second.id).status) == ("running", "completed")


@worker_mode
def test_worker__skips_a_live_lease_and_takes_over_a_lapsed_one(engine) -> None:
    step = marker("A")
    instance = engine.start_workflow_sync(workflow([step], []))
    row = _row(instance.id)
    tokens = [{**t, "state": "running"} for t in row.tokens]  # claimed by a drive...
    WorkflowInstanceModel.objects.filter(pk=instance.id).update(
        tokens=tokens,
        lease_owner="elsewhere",
        lease_expires_at=timezone.now() + timedelta(minutes=5),
    )
    assert Worker(engine, burst=True).run() == 0  # ...that is alive
    assert step.calls == 0

    WorkflowInstanceModel.objects.filter(pk=instance.id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)  # ...that died
    )
    assert Worker(engine, burst=True).run() == 1
    assert step.calls == 1
    assert _row(instance.id).status == "completed"


@worker_mode
def test_worker__an_unknown_workflow_is_left_for_later(engine) -> None:
    instance = engine.start_workflow_sync(workflow([marker("A")], [], name="gone"))
    stranger = Worker(PersistentExecutionEngine(registry=type(engine.registry)()), burst=True)
    assert stranger.run() == 0
    row = _row(instance.id)
    assert row.status == "running" and row.wake_at > timezone.now()


@worker_mode
def test_worker__max_instances(engine) -> None:
    for _ in range(3):
        engine.start_workflow_sync(workflow([marker("A")], []))
    assert Worker(engine, max_instances=2, burst=True).run() == 2
    assert WorkflowInstanceModel.objects.filter(status="running").count() == 1


@worker_mode
def test_workflows_worker_command__burst(engine, registry, capsys) -> None:
    from workflows_app.core import registry as registry_module

    wf = workflow([marker("A")], [], name="by_command")
    instance = engine.start_workflow_sync(wf)
    registry_module.default_registry.register(wf)
    try:
        call_command("workflows_worker", "--burst", "--poll-interval", "0.01")
    finally:
        registry_module.default_registry.unregister("by_command")
    assert _row(instance.id).status == "completed"
    assert "ran 1 instance(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [["--concurrency", "0"], ["--concurrency", "x"], ["--poll-interval", "-1"]],
)
def test_workflows_worker_command__bad_arguments(argv) -> None:
    with pytest.raises(CommandError):
        call_command("workflows_worker", *argv)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@worker_mode
def test_workers__two_workers_never_run_the_same_claim(registry) -> None:
    runs: Counter = Counter()
    lock = threading.Lock()

    def count(ctx):
        with lock:
            runs[(ctx.instance_id, ctx.current_step)] += 1

    wf = workflow(
        [Step("A", count), Step("B", count), Step("C", count)], [Edge("A", "B"), Edge("B", "C")]
    )
    engine = PersistentExecutionEngine(registry)
    ids = [engine.start_workflow_sync(wf).id for _ in range(40)]

    workers = [
        Worker(PersistentExecutionEngine(registry), burst=True, poll_interval=0.01)
        for _ in range(2)
    ]
    threads = [threading.Thread(target=w._thread_loop) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(w.processed for w in workers) == 40
    assert all(w.processed > 0 for w in workers)
    assert set(runs.values()) == {1} and len(runs) == 120
    assert set(
        WorkflowInstanceModel.objects.filter(pk__in=ids).values_list("status", flat=True)
    ) == {"completed"}
