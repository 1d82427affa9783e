"""A worker killed with SIGKILL while parents wait on subworkflows and children run.

Another worker finishes the work: every parent completes, every parent's subworkflow step
started its children exactly once (no child instance is inserted twice), and no step's
success is recorded twice in any instance (parent or child).
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

from workflows_app.core.types import WorkflowStatus
from workflows_app.models import StepExecutionModel, WorkflowInstanceModel

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
]

REPO_ROOT = Path(settings.BASE_DIR)
LEASE_SECONDS = 1.0
PARENTS = 6
DEVICES = 3  # children per parent (for_each)
CHILD_STEPS = ("reserve", "pack", "ship")

# The subprocess sets up Django on this run's test database, declares a parent workflow
# whose subworkflow step starts one child per device, and either starts the parents
# ("start") or runs a worker ("work").
SCRIPT = textwrap.dedent(
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

    from workflows_app import BaseMachineStep, SubworkflowStep, Workflow, WorkflowRegistry
    from workflows_app.db import PersistentExecutionEngine
    from workflows_app.engine.worker import Worker


    class Slow(BaseMachineStep):
        def execute(self, context):
            time.sleep(0.05)
            context.set(self.name, context.get("item"))


    class Note(BaseMachineStep):
        def execute(self, context):
            context.set(self.name, True)


    class EquipmentOrder(Workflow):
        name = "equipment_order"
        steps = [Slow("reserve"), Slow("pack"), Slow("ship")]
        edges = [("reserve", "pack"), ("pack", "ship")]


    class Order(SubworkflowStep):
        name = "order"
        workflow = "equipment_order"
        for_each = "devices"
        output = {"shipped": "ship"}


    class Onboarding(Workflow):
        name = "onboarding"
        steps = [Note("hello"), Order, Note("welcome")]
        edges = [("hello", "order"), ("order", "welcome")]


    registry = WorkflowRegistry()
    registry.register(EquipmentOrder)
    registry.register(Onboarding)
    engine = PersistentExecutionEngine(registry)
    if sys.argv[1] == "start":
        for _ in range(int(sys.argv[2])):
            engine.start_workflow_sync("onboarding", {"devices": list(range(int(sys.argv[3])))})
    else:
        print("worker up", flush=True)
        Worker(engine, burst=sys.argv[2] == "burst", poll_interval=0.05).run()
    """
)


def _spawn(log: Path, *argv: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "WF_DB_NAME": str(connection.settings_dict["NAME"]),
        "WF_LEASE": str(LEASE_SECONDS),
        "PYTHONPATH": str(REPO_ROOT),
    }
    with log.open("w") as out:  # the subprocess keeps its own copy of the file
        return subprocess.Popen(
            [sys.executable, "-c", SCRIPT, *argv],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _children() -> WorkflowInstanceModel:
    return WorkflowInstanceModel.objects.exclude(parent=None)


def _child_steps_succeeded() -> int:
    return StepExecutionModel.objects.filter(
        instance__parent__isnull=False, status="succeeded"
    ).count()


def test_worker_killed_while_parents_wait__every_parent_completes_and_no_child_runs_twice(
    tmp_path,
) -> None:
    starter = _spawn(tmp_path / "start.log", "start", str(PARENTS), str(DEVICES))
    assert starter.wait(timeout=60) == 0, (tmp_path / "start.log").read_text()

    doomed = _spawn(tmp_path / "doomed.log", "work", "forever")
    deadline = time.monotonic() + 60
    # Kill it once children exist and some (not all) of their steps have run.
    while time.monotonic() < deadline and (
        _children().count() < PARENTS * DEVICES or _child_steps_succeeded() < PARENTS * DEVICES
    ):
        time.sleep(0.02)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    assert doomed.returncode == -signal.SIGKILL, (tmp_path / "doomed.log").read_text()

    parents = WorkflowInstanceModel.objects.filter(parent=None)
    assert parents.filter(status=WorkflowStatus.WAITING.value).exists(), (
        "no parent was waiting on its children when the worker was killed"
    )
    assert _children().exclude(status=WorkflowStatus.COMPLETED.value).exists(), (
        "the worker finished every child before it was killed"
    )

    time.sleep(LEASE_SECONDS + 0.2)  # the dead worker's leases lapse
    rescuer = _spawn(tmp_path / "rescuer.log", "work", "burst")
    assert rescuer.wait(timeout=180) == 0, (tmp_path / "rescuer.log").read_text()

    assert parents.count() == PARENTS
    assert set(parents.values_list("status", flat=True)) == {WorkflowStatus.COMPLETED.value}
    for parent in parents:
        assert parent.context_data["order_results"] == [
            {"shipped": device} for device in range(DEVICES)
        ]
    # No child instance was started twice: exactly one child per device per parent step.
    per_parent_step = Counter(_children().values_list("parent_id", "parent_step"))
    assert len(per_parent_step) == PARENTS
    assert set(per_parent_step.values()) == {DEVICES}
    assert set(_children().values_list("status", flat=True)) == {WorkflowStatus.COMPLETED.value}
    # No transition happened twice: one recorded success per step per instance.
    successes = Counter(
        StepExecutionModel.objects.filter(status="succeeded").values_list(
            "instance_id", "step_name"
        )
    )
    assert len(successes) == PARENTS * 3 + PARENTS * DEVICES * len(CHILD_STEPS)
    assert set(successes.values()) == {1}
    assert not WorkflowInstanceModel.objects.exclude(lease_owner=None).exists()
