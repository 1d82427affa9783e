"""Suspension against other actors, on PostgreSQL: a real worker never drives a suspended
instance (and a timer that fell due meanwhile fires once, on resume), and a suspension
racing a task completion (exactly one wins, the instance consistent and under no lease)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.db import connections
from django.test import override_settings

from tests.integration.helpers import Edge, executions, human, marker, tasks, workflow
from tests.integration.test_concurrency import race
from workflows_app import TimerStep, WorkflowRegistry
from workflows_app.core.steps import WebhookStep
from workflows_app.core.types import TaskStatus
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.engine.worker import Worker
from workflows_app.exceptions import WorkflowStateError
from workflows_app.models import WorkflowInstanceModel

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROUNDS = 4


def _row(instance_id: Any) -> WorkflowInstanceModel:
    return WorkflowInstanceModel.objects.get(pk=instance_id)


def _wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"})
def test_a_real_worker_never_drives_a_suspended_instance_and_the_timer_fires_once() -> None:
    registry = WorkflowRegistry()
    after = marker("B")
    wf = workflow(
        [marker("A"), TimerStep("T", duration=timedelta(seconds=1)), after],
        [Edge("A", "T"), Edge("T", "B")],
        name="suspend_worker",
    )
    registry.register(wf)
    engine = PersistentExecutionEngine(registry)
    worker = Worker(engine, poll_interval=0.05, listen=False)
    failures: list[BaseException] = []

    def target() -> None:
        try:
            worker.run()
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name="test-worker")
    thread.start()
    try:
        instance = engine.start_workflow_sync(wf)
        # A ran; the timer sleeps (the instance is running, under no lease).
        assert _wait_for(
            lambda: (
                [t["state"] for t in _row(instance.id).tokens] == ["sleeping"]
                and _row(instance.id).lease_owner is None
            )
        )
        engine.suspend_sync(instance.id, "incident", by="ops")
        time.sleep(2.0)  # the timer falls due; the worker polls twenty times a second
        held = _row(instance.id)
        assert (held.status, held.wake_at, after.calls) == ("suspended", None, 0)

        engine.resume_sync(instance.id, by="ops")
        assert _wait_for(lambda: _row(instance.id).status == "completed")
        time.sleep(0.3)  # a second firing would show by now
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert not thread.is_alive() and failures == []
    assert after.calls == 1
    assert [r.step_name for r in executions(instance.id)] == ["A", "T", "B"]


def test_suspend_racing_a_completion__exactly_one_wins() -> None:
    registry = WorkflowRegistry()
    wf = workflow(
        [marker("A"), human("H"), marker("C")], [Edge("A", "H"), Edge("H", "C")], name="sr"
    )
    registry.register(wf)
    outcomes = set()

    for _ in range(ROUNDS):
        instance = PersistentExecutionEngine(registry).start_workflow_sync(wf)
        results = race(
            partial(PersistentExecutionEngine(registry).suspend_sync, instance.id, "now", "ops"),
            partial(
                PersistentExecutionEngine(registry).complete_human_task_sync,
                instance.id,
                "H",
                "u1",
                {"ok": True},
            ),
        )
        suspended, completed = (not isinstance(r, BaseException) for r in results)
        assert suspended != completed, results  # exactly one wins
        loser = results[1] if suspended else results[0]
        assert isinstance(loser, WorkflowStateError), loser
        row = _row(instance.id)
        assert row.lease_owner is None
        [task] = tasks(instance.id, "H")
        if suspended:
            assert "suspended" in str(loser)
            assert (row.status, task.status) == ("suspended", TaskStatus.ON_HOLD)
            assert [(r.step_name, r.status) for r in executions(instance.id)][-1] == (
                "H",
                "waiting",
            )
            assert len(row.metadata["suspensions"]) == 1
            outcomes.add("suspended")
        else:
            assert (row.status, task.status) == ("completed", TaskStatus.COMPLETED)
            assert [r.step_name for r in executions(instance.id)] == ["A", "H", "C"]
            assert "suspensions" not in row.metadata
            outcomes.add("completed")
    assert outcomes  # at least one round ran


def test_suspend_racing_a_webhook_callback__the_callback_is_never_refused() -> None:
    """The callback either completes the step first (and the suspension of the finished
    instance is refused), or is kept for the resume; it is never answered 409."""
    registry = WorkflowRegistry()
    wf = workflow(
        [marker("A"), WebhookStep("hook"), marker("C")],
        [Edge("A", "hook"), Edge("hook", "C")],
        name="sr_hook",
    )
    registry.register(wf)
    outcomes = set()

    for _ in range(ROUNDS * 2):
        instance = PersistentExecutionEngine(registry).start_workflow_sync(wf)
        token = instance.context.get("hook_callback_token")
        results = race(
            partial(PersistentExecutionEngine(registry).suspend_sync, instance.id, "now", "ops"),
            partial(PersistentExecutionEngine(registry).complete_webhook_sync, token, {"n": 1}),
        )
        suspend, callback = results
        assert not isinstance(callback, BaseException), callback
        row = _row(instance.id)
        assert row.lease_owner is None
        if isinstance(suspend, BaseException):
            assert isinstance(suspend, WorkflowStateError), suspend
            assert row.status == "completed" and row.context_data["webhook_data"] == {"n": 1}
            assert "suspensions" not in row.metadata
            outcomes.add("completed first")
            continue
        assert (row.status, callback.status) == ("suspended", "suspended")
        assert [e["payload"] for e in row.metadata["buffered_callbacks"]] == [{"n": 1}]
        assert "webhook_data" not in row.context_data
        resumed = PersistentExecutionEngine(registry).resume_sync(instance.id, "ops")
        assert resumed.status == "completed" and resumed.context.get("webhook_data") == {"n": 1}
        assert [r.step_name for r in executions(instance.id)] == ["A", "hook", "C"]
        outcomes.add("kept")
    assert outcomes  # at least one round ran
