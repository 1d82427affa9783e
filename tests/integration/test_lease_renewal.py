"""Leases through a database that goes away: the heartbeat and the drive's commits.

A worker's heartbeat keeps renewing leases after the database failed it; a drive's commit
that fails on the connection is tried again on a new one for as long as the lease holds;
a drive with no heartbeat renews its lease by committing before a step once half of it
has passed. The real thing, with connections terminated under real worker processes, is
in ``test_worker_survival.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from django.db import OperationalError
from django.test import override_settings
from django.utils import timezone

from tests.integration.helpers import Step, marker, workflow
from workflows_app import Edge
from workflows_app.core.types import WorkflowStatus
from workflows_app.engine import leases
from workflows_app.engine.worker import Worker
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def _row(instance_id: Any) -> WorkflowInstanceModel:
    return WorkflowInstanceModel.objects.get(pk=instance_id)


def test_drive__commits_to_renew_its_lease_before_a_step_once_half_of_it_has_passed(
    engine,
) -> None:
    # No heartbeat renews an inline drive's lease, and the checkpoint is far away: after a
    # step that took more than half the lease, the drive commits before the next one.
    seen: list[tuple[list[str], bool]] = []

    def look(ctx: Any) -> None:
        row = _row(ctx.instance_id)
        committed = [
            entry.step_name for entry in engine.get_instance_sync(row.pk).context.step_history
        ]
        seen.append((committed, row.lease_expires_at > timezone.now()))

    slow = Step("A", lambda ctx: time.sleep(1.1))
    wf = workflow([slow, Step("B", look), Step("C", look)], [Edge("A", "B"), Edge("B", "C")])
    with override_settings(WORKFLOWS={"LEASE_SECONDS": 2.0, "CHECKPOINT_INTERVAL": 100}):
        instance = engine.start_workflow_sync(wf)

    assert instance.status == WorkflowStatus.COMPLETED
    # Before B: A committed and the lease renewed. Before C (B was quick): no commit.
    assert seen == [(["A"], True), (["A"], True)]


@pytest.mark.django_db(transaction=True)
def test_drive__a_commit_that_loses_its_connection_is_tried_again(
    engine, monkeypatch, caplog
) -> None:
    # Outside any atomic block, as in a worker: the drive reconnects and commits again.
    store = engine.store
    save_if_unchanged = store.save_if_unchanged
    failures = [OperationalError("server closed the connection unexpectedly")] * 2

    def flaky(*args: Any, **kwargs: Any) -> bool:
        if failures:
            raise failures.pop()
        return save_if_unchanged(*args, **kwargs)

    monkeypatch.setattr(store, "save_if_unchanged", flaky)
    a = marker("A")
    instance = engine.start_workflow_sync(workflow([a], []))

    assert instance.status == WorkflowStatus.COMPLETED
    assert a.calls == 1
    row = _row(instance.id)
    assert (row.status, row.lease_owner) == (WorkflowStatus.COMPLETED, None)
    assert caplog.text.count("commit failed (OperationalError") == 2


@pytest.mark.django_db(transaction=True)
def test_drive__a_commit_that_never_reaches_the_database_gives_up_when_the_lease_lapses(
    engine, monkeypatch, caplog
) -> None:
    # The database is "gone" for good: the drive must not fail the instance (it is not the
    # instance's fault), and must stop once its lease has lapsed; a worker takes over.
    def gone(*args: Any, **kwargs: Any) -> bool:
        raise OperationalError("the database system is shutting down")

    a = marker("A")
    with override_settings(WORKFLOWS={"LEASE_SECONDS": 0.5}):
        monkeypatch.setattr(engine.store, "save_if_unchanged", gone)
        with pytest.raises(OperationalError):
            engine.start_workflow_sync(workflow([a], []))
        [row] = WorkflowInstanceModel.objects.all()
        assert (row.status, row.lease_owner is not None) == (WorkflowStatus.RUNNING, True)
        assert "trying again on a new connection" in caplog.text

        monkeypatch.undo()
        WorkflowInstanceModel.objects.update(lease_expires_at=timezone.now())
        assert Worker(engine, burst=True, listen=False).run() == 1
    row = _row(row.pk)
    assert (row.status, row.lease_owner) == (WorkflowStatus.COMPLETED, None)
    assert a.calls == 2  # at least once: the result that was never committed ran again


@pytest.mark.django_db(transaction=True)  # the heartbeat thread writes on its own connection
def test_heartbeat__survives_errors_and_renews_again(engine, monkeypatch, caplog) -> None:
    caplog.set_level(logging.INFO, logger="workflows_app.engine.worker")
    renew = leases.renew
    calls: list[str] = []
    renewed_after_failures = threading.Event()

    def flaky(using: str, held: Any) -> None:
        calls.append("call")
        if len(calls) <= 2:
            raise OperationalError("terminating connection due to administrator command")
        renew(using, held)
        renewed_after_failures.set()

    monkeypatch.setattr(leases, "renew", flaky)
    hold = leases.Hold("some-drive", "00000000-0000-0000-0000-000000000000", written=0.0)
    with override_settings(WORKFLOWS={"LEASE_SECONDS": 0.6}):
        worker = Worker(engine, listen=False)
        worker._held[hold.owner] = hold
        heartbeat = threading.Thread(target=worker._heartbeat)
        heartbeat.start()
        try:
            assert renewed_after_failures.wait(timeout=10)
        finally:
            worker.stop()
            heartbeat.join(timeout=10)

    assert len(calls) >= 3
    assert caplog.text.count("could not renew its leases (OperationalError") == 2
    assert "renewed its leases again, after 2 failed attempts" in caplog.text
    assert hold.lost  # no row names it: a renewal that finds none loses the lease


def test_worker__deadlines_that_fail_do_not_stop_instances_from_running(
    engine, monkeypatch
) -> None:
    def broken(self: Worker) -> int:
        raise RuntimeError("deadlines broke")

    monkeypatch.setattr(Worker, "run_deadlines", broken)
    a = marker("A")
    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
        instance = engine.start_workflow_sync(workflow([a], []))
        assert Worker(engine, burst=True, listen=False).run() == 1
    assert _row(instance.id).status == WorkflowStatus.COMPLETED
