"""DISPATCH = "celery": runnable instances go to a real Celery worker through real Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

pytest.importorskip("celery")

from workflows_app.db import PersistentExecutionEngine
from workflows_app.models import WorkflowInstanceModel


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not _redis_answers(), reason="needs Redis on 127.0.0.1:6379"),
]

REPO_ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def celery_worker(tmp_path):
    """A real `celery worker` process on a queue of its own, on this run's test database."""
    from project import celery_app

    queue = f"workflows-test-{uuid.uuid4().hex[:8]}"
    previous_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "CELERY_QUEUE": queue,
        "PYTHONPATH": str(REPO_ROOT),
    }
    log = tmp_path / "celery.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "project",
                "worker",
                "--pool=solo",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                "-Q",
                queue,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    yield log
    celery_app.conf.task_default_queue = previous_queue
    worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def _wait_for_status(instance_id, status: str, log: Path, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if WorkflowInstanceModel.objects.get(pk=instance_id).status == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"instance not {status} in {timeout} s; worker log:\n{log.read_text()}")


@override_settings(WORKFLOWS={"EXECUTION_MODE": "worker", "DISPATCH": "celery"})
def test_celery__runs_instances_as_soon_as_they_are_runnable(celery_worker) -> None:
    engine = PersistentExecutionEngine()  # the demo's workflows, found at start-up

    pipeline = engine.start_workflow_sync("order_pipeline", {"order_id": 7})
    assert pipeline.status == "running"  # committed and handed to Celery
    _wait_for_status(pipeline.id, "completed", celery_worker)
    row = WorkflowInstanceModel.objects.get(pk=pipeline.id)
    assert row.context_data == {
        "order_id": 7,
        "valid": True,
        "customer": "customer-of-7",
        "notified": True,
    }

    expense = engine.start_workflow_sync("expense_approval", {"amount": 42})
    _wait_for_status(expense.id, "waiting", celery_worker)
    engine.complete_human_task_sync(expense.id, "manager_approval", "mia", {"approved": True})
    _wait_for_status(expense.id, "completed", celery_worker)
    assert WorkflowInstanceModel.objects.get(pk=expense.id).context_data["reimbursed"] == 42
    assert "workflows_app.run_instance" in celery_worker.read_text()
