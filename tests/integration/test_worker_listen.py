"""Instant pickup on PostgreSQL: commits NOTIFY, idle workers LISTEN and wake at once.

The workers here poll every 30 s, so an instance they run within a few seconds was
picked up because of a notification, not a poll.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, connections, transaction
from django.test import override_settings

from tests.integration.helpers import Edge, Step, human, marker, workflow
from workflows_app.core.retry import RetryPolicy
from workflows_app.engine import dispatch, listener
from workflows_app.engine.worker import Worker
from workflows_app.models import WorkflowInstanceModel

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

worker_mode = override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"})

POLL = 30.0  # longer than any wait below: a worker that polls does not run anything in time
SOON = 5.0  # generous for a loaded machine; a pickup takes milliseconds


@contextmanager
def listening_connection():
    """A connection of the test's own that LISTENs on the engine's channel."""
    with psycopg.connect(**listener._connection_params("default")) as conn:
        conn.execute(f'LISTEN "{dispatch.CHANNEL}"')
        yield conn


def received(conn, timeout: float, stop_after: int | None = None) -> list[str]:
    return [n.payload for n in conn.notifies(timeout=timeout, stop_after=stop_after)]


@contextmanager
def running(worker: Worker, *, until_listening: bool = True):
    """Run ``worker`` in a thread until the block ends; yield once it listens."""
    failures: list[BaseException] = []

    def target() -> None:
        try:
            worker.run()
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name="test-worker")
    thread.start()
    try:
        if until_listening:
            assert _wait_for(
                lambda: worker.listener is not None and worker.listener.listening.is_set()
            )
        time.sleep(0.3)  # let the threads finish the look for work that (re)connecting starts
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert not thread.is_alive() and failures == []


def idle_signal(worker: Worker) -> threading.Event:
    """An event set whenever one of the worker's threads starts waiting for work."""
    idle = threading.Event()
    wait = worker._wakeup.wait

    def waiting(timeout: float) -> bool:
        idle.set()
        return wait(timeout)

    worker._wakeup.wait = waiting  # type: ignore[method-assign]
    return idle


def _wait_for(condition, timeout: float = SOON) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _status(instance_id) -> str:
    return WorkflowInstanceModel.objects.get(pk=instance_id).status


# -- the notification ----------------------------------------------------------------------


@worker_mode
def test_notify__delivered_when_the_transaction_commits_and_never_on_rollback(engine) -> None:
    wf = workflow([marker("A")], [])
    with listening_connection() as conn:
        with transaction.atomic():
            instance = engine.start_workflow_sync(wf)  # the start joins this transaction
            assert received(conn, 0.3) == []  # not yet: nothing is committed
        assert received(conn, SOON, stop_after=1) == [str(instance.id)]

        class Abort(Exception):
            pass

        with pytest.raises(Abort), transaction.atomic():
            engine.start_workflow_sync(wf)
            raise Abort
        assert received(conn, 0.5) == []
        assert WorkflowInstanceModel.objects.count() == 1


@worker_mode
def test_notify__sent_by_the_commit_of_a_completed_task(engine) -> None:
    wf = workflow([human("H"), marker("B")], [Edge("H", "B")])
    instance = engine.start_workflow_sync(wf)
    Worker(engine, burst=True).run()
    assert _status(instance.id) == "waiting"
    with listening_connection() as conn:
        engine.complete_human_task_sync(instance.id, "H", "u1", {})
        assert received(conn, SOON, stop_after=1) == [str(instance.id)]


def test_notify__not_for_a_retry_due_later(engine) -> None:
    def fails(ctx):
        raise ConnectionError("down")

    call = Step("call", fails)
    call.retry_policy = RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=60))
    with listening_connection() as conn:
        instance = engine.start_workflow_sync(workflow([call], []))  # inline: fails, backs off
        assert _status(instance.id) == "running"
        assert received(conn, 0.5) == []  # polling finds it when it is due


@override_settings(WORKFLOWS={"EXECUTION_MODE": "worker", "LISTEN_NOTIFY": False})
def test_notify__off_with_the_setting(engine) -> None:
    with listening_connection() as conn:
        engine.start_workflow_sync(workflow([marker("A")], []))
        assert received(conn, 0.5) == []


# -- workers -----------------------------------------------------------------------------


@worker_mode
def test_worker__an_idle_worker_wakes_at_once_when_an_instance_is_runnable(engine) -> None:
    after = marker("B")
    wf = workflow([marker("A"), human("H"), after], [Edge("A", "H"), Edge("H", "B")])
    with running(Worker(engine, poll_interval=POLL)):
        instance = engine.start_workflow_sync(wf)
        assert _wait_for(lambda: _status(instance.id) == "waiting")

        time.sleep(0.3)  # the worker is idle again
        engine.complete_human_task_sync(instance.id, "H", "u1", {})
        assert _wait_for(lambda: _status(instance.id) == "completed")
    assert after.calls == 1


@worker_mode
def test_worker__without_listening_an_idle_worker_waits_for_its_poll(engine) -> None:
    worker = Worker(engine, poll_interval=POLL, listen=False)
    idle = idle_signal(worker)
    with running(worker, until_listening=False):
        assert worker.listener is None
        assert idle.wait(SOON)  # looked for work once, found none
        instance = engine.start_workflow_sync(workflow([marker("A")], []))
        time.sleep(1.5)
        assert _status(instance.id) == "running"  # still waiting for the next poll


@worker_mode
def test_worker__notifications_wake_each_idle_thread(engine) -> None:
    both = threading.Barrier(2, timeout=SOON)  # passes only when two steps run at once

    wf = workflow([Step("meet", lambda ctx: both.wait())], [])
    with running(Worker(engine, poll_interval=POLL, concurrency=2)) as worker:
        first = engine.start_workflow_sync(wf)
        second = engine.start_workflow_sync(wf)
        assert _wait_for(lambda: {_status(first.id), _status(second.id)} == {"completed"})
    assert worker.processed >= 2


@worker_mode
def test_listener__reconnects_after_losing_its_connection(engine, caplog) -> None:
    worker = Worker(engine, poll_interval=POLL)
    worker.listen_reconnect_delay = 0.2
    with caplog.at_level(logging.WARNING, logger="workflows_app"), running(worker):
        lost = worker.listener.backend_pid
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [lost])
        assert _wait_for(
            lambda: worker.listener.listening.is_set() and worker.listener.backend_pid != lost
        )
        time.sleep(0.3)
        instance = engine.start_workflow_sync(workflow([marker("A")], []))
        assert _wait_for(lambda: _status(instance.id) == "completed")
    assert "lost the listening connection" in caplog.text


@worker_mode
def test_listener__a_worker_that_cannot_listen_polls(engine, caplog, monkeypatch) -> None:
    params = listener._connection_params("default")
    monkeypatch.setattr(
        listener, "_connection_params", lambda using: {**params, "port": 1, "connect_timeout": 2}
    )
    worker = Worker(engine, poll_interval=0.05)
    with (
        caplog.at_level(logging.WARNING, logger="workflows_app"),
        running(worker, until_listening=False),
    ):
        instance = engine.start_workflow_sync(workflow([marker("A")], []))
        assert _wait_for(lambda: _status(instance.id) == "completed")
        assert _wait_for(lambda: "cannot listen" in caplog.text)
        assert not worker.listener.listening.is_set()
