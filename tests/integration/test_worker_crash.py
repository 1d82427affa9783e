"""A worker killed with SIGKILL while instances are in flight: another worker finishes them.

Each step's success is recorded exactly once, and every instance completes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from workflows_app.models import StepExecutionModel, WorkflowInstanceModel

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
]

REPO_ROOT = Path(settings.BASE_DIR)
LEASE_SECONDS = 1.0
INSTANCES = 12

# The child sets up Django on this run's test database, declares the workflow and either
# starts the instances ("start") or runs a worker ("work").
CHILD = textwrap.dedent(
    """
    import os, sys, time

    import django
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = os.environ["WF_DB_NAME"]
    settings.WORKFLOWS = {
        "EXECUTION_MODE": "worker",
        "LEASE_SECONDS": float(os.environ["WF_LEASE"]),
        "CHECKPOINT_INTERVAL": 0,
    }
    django.setup()

    from workflows_app import BaseMachineStep, Workflow, WorkflowRegistry
    from workflows_app.db import PersistentExecutionEngine
    from workflows_app.engine.worker import Worker


    class Slow(BaseMachineStep):
        def execute(self, context):
            time.sleep(0.03)
            context.set(self.name, True)


    class Crashy(Workflow):
        name = "crashy"
        steps = [Slow("a"), Slow("b"), Slow("c")]
        edges = [("a", "b"), ("b", "c")]


    registry = WorkflowRegistry()
    registry.register(Crashy)
    engine = PersistentExecutionEngine(registry)
    if sys.argv[1] == "start":
        for _ in range(int(sys.argv[2])):
            engine.start_workflow_sync("crashy")
    else:
        print("worker up", flush=True)
        Worker(engine, burst=sys.argv[2] == "burst", poll_interval=0.05).run()
    """
)


def _child(log: Path, *argv: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "WF_DB_NAME": str(connection.settings_dict["NAME"]),
        "WF_LEASE": str(LEASE_SECONDS),
        "PYTHONPATH": str(REPO_ROOT),
    }
    with log.open("w") as out:  # the child keeps its own copy of the file
        return subprocess.Popen(
            [sys.executable, "-c", CHILD, *argv],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _succeeded_steps() -> int:
    return StepExecutionModel.objects.filter(status="succeeded").count()


def test_worker_crash__another_worker_finishes_and_nothing_is_recorded_twice(tmp_path) -> None:
    starter = _child(tmp_path / "start.log", "start", str(INSTANCES))
    assert starter.wait(timeout=60) == 0, (tmp_path / "start.log").read_text()

    doomed = _child(tmp_path / "doomed.log", "work", "forever")
    deadline = time.monotonic() + 30
    while _succeeded_steps() < INSTANCES and time.monotonic() < deadline:
        time.sleep(0.02)  # let it get well into the work
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    assert doomed.returncode == -signal.SIGKILL
    in_flight = WorkflowInstanceModel.objects.exclude(status="completed").count()
    assert in_flight > 0, "the worker finished everything before it was killed"

    time.sleep(LEASE_SECONDS + 0.2)  # the dead worker's leases lapse
    rescuer = _child(tmp_path / "rescuer.log", "work", "burst")
    assert rescuer.wait(timeout=120) == 0, (tmp_path / "rescuer.log").read_text()

    assert set(WorkflowInstanceModel.objects.values_list("status", flat=True)) == {"completed"}
    successes = Counter(
        StepExecutionModel.objects.filter(status="succeeded").values_list(
            "instance_id", "step_name"
        )
    )
    assert len(successes) == INSTANCES * 3
    assert set(successes.values()) == {1}
    assert not WorkflowInstanceModel.objects.exclude(lease_owner=None).exists()
