"""workflows_worker and SIGTERM: the first finishes the running instance, a second quits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from workflows_app import BaseMachineStep, Workflow, WorkflowRegistry
from workflows_app.db import PersistentExecutionEngine
from workflows_app.models import WorkflowInstanceModel

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="needs POSIX signals"),
]

REPO_ROOT = Path(settings.BASE_DIR)

CHILD = textwrap.dedent(
    """
    import os, time

    import django
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = os.environ["WF_DB_NAME"]
    django.setup()

    from django.core.management import call_command

    from workflows_app import BaseMachineStep, Workflow
    from workflows_app.core.registry import default_registry


    class Slow(BaseMachineStep):
        name = "slow"

        def execute(self, context):
            print("step started", flush=True)
            time.sleep(1.0)
            context.set("finished", True)


    class Sleepy(Workflow):
        name = "sleepy"
        steps = [Slow]


    default_registry.register(Sleepy)
    call_command("workflows_worker", "--poll-interval", "0.05")
    """
)


class Slow(BaseMachineStep):
    name = "slow"

    def execute(self, context):  # never run in this process
        raise AssertionError


class Sleepy(Workflow):
    name = "sleepy"
    steps = [Slow]


def _start_worker(log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "WF_DB_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": str(REPO_ROOT),
    }
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-c", CHILD], cwd=REPO_ROOT, env=env, stdout=out, stderr=out
        )


def _start_instance():
    registry = WorkflowRegistry()
    registry.register(Sleepy)
    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
        return PersistentExecutionEngine(registry).start_workflow_sync("sleepy")


def _wait_for_step(log: Path) -> None:
    deadline = time.monotonic() + 30
    while "step started" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.02)


def test_sigterm__finishes_the_running_instance_then_exits(tmp_path) -> None:
    instance = _start_instance()
    log = tmp_path / "worker.log"
    worker = _start_worker(log)
    _wait_for_step(log)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, log.read_text()
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert (row.status, row.context_data, row.lease_owner) == (
        "completed",
        {"finished": True},
        None,
    )
    assert "finishing the instances being run" in log.read_text()


def test_sigterm_twice__quits_at_once_and_leaves_the_lease_to_lapse(tmp_path) -> None:
    instance = _start_instance()
    log = tmp_path / "worker.log"
    worker = _start_worker(log)
    _wait_for_step(log)
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 1, log.read_text()
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert row.status == "running" and "finished" not in row.context_data
    assert row.lease_owner is not None  # another worker takes it over once it lapses
