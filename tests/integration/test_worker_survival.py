"""Real worker processes against a database that goes away, and steps that kill them.

- On PostgreSQL, every connection of two workers is terminated (twice) while one of them
  runs a step longer than the lease: the heartbeat reconnects and keeps the lease, the
  drive commits on a new connection, and the step runs exactly once.
- A step that kills its worker (SIGKILL) every time fails its instance once
  ``MAX_DRIVE_ATTEMPTS`` workers died on it, instead of killing workers forever.
"""

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

from workflows_app.core.types import StepStatus, WorkflowStatus
from workflows_app.models import StepExecutionModel, WorkflowInstanceModel

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
]

REPO_ROOT = Path(settings.BASE_DIR)
APP_NAME = "wf-survival-test"

# The child sets up Django on this run's test database (its connections named
# WF_APP_NAME in pg_stat_activity), declares the workflows and either starts an instance
# ("start <workflow>") or runs a worker ("work burst|forever").
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time

    import django
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = os.environ["WF_DB_NAME"]
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        options = settings.DATABASES["default"].setdefault("OPTIONS", {})
        options["application_name"] = os.environ["WF_APP_NAME"]
    settings.WORKFLOWS = {
        "EXECUTION_MODE": "worker",
        "LEASE_SECONDS": float(os.environ["WF_LEASE"]),
        "CHECKPOINT_INTERVAL": 0,
        "MAX_DRIVE_ATTEMPTS": 3,
    }
    django.setup()

    from workflows_app import BaseMachineStep, Workflow, WorkflowRegistry
    from workflows_app.db import PersistentExecutionEngine
    from workflows_app.engine.worker import Worker


    def record_run():
        with open(os.environ["WF_RUNS"], "a") as runs:
            runs.write(f"{os.getpid()}\\n")


    class Long(BaseMachineStep):
        def execute(self, context):
            record_run()
            time.sleep(float(os.environ["WF_STEP_SECONDS"]))
            context.set("long_done", True)


    class KillsItsWorker(BaseMachineStep):
        def execute(self, context):
            record_run()
            os.kill(os.getpid(), signal.SIGKILL)


    class Done(BaseMachineStep):
        def execute(self, context):
            context.set("done", True)


    class Survivor(Workflow):
        name = "survivor"
        steps = [Long("long"), Done("after")]
        edges = [("long", "after")]


    class Deadly(Workflow):
        name = "deadly"
        steps = [Done("before"), KillsItsWorker("deadly_step")]
        edges = [("before", "deadly_step")]


    registry = WorkflowRegistry()
    registry.register(Survivor)
    registry.register(Deadly)
    engine = PersistentExecutionEngine(registry)
    if sys.argv[1] == "start":
        engine.start_workflow_sync(sys.argv[2])
    else:
        print("worker up", flush=True)
        Worker(engine, burst=sys.argv[2] == "burst", poll_interval=0.1).run()
    """
)


class Children:
    """Start child processes (logging to ``tmp_path``) and kill what is left of them."""

    def __init__(self, tmp_path: Path, lease: float, step_seconds: float = 0.0) -> None:
        self.tmp_path = tmp_path
        self.runs = tmp_path / "runs.txt"
        self.runs.touch()
        self.lease = lease
        self.step_seconds = step_seconds
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, *argv: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "WF_DB_NAME": str(connection.settings_dict["NAME"]),
            "WF_APP_NAME": APP_NAME,
            "WF_LEASE": str(self.lease),
            "WF_STEP_SECONDS": str(self.step_seconds),
            "WF_RUNS": str(self.runs),
            "PYTHONPATH": str(REPO_ROOT),
        }
        with self.log(name).open("w") as out:  # the child keeps its own copy of the file
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, *argv],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append(child)
        return child

    def run(self, name: str, *argv: str) -> int:
        """Run a child to its end; return its exit code."""
        return self.start(name, *argv).wait(timeout=120)

    def log(self, name: str) -> Path:
        return self.tmp_path / f"{name}.log"

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.tmp_path.glob("*.log")))

    def step_runs(self) -> int:
        return len(self.runs.read_text().splitlines())

    def stop_all(self) -> None:
        for child in self.started:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.started:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _terminate_worker_connections() -> int:
    """End every connection of the workers (theirs and their listeners'), not this one's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name IN (%s, 'workflows_app listener')",
            [APP_NAME],
        )
        return sum(1 for (terminated,) in cursor.fetchall() if terminated)


@pytest.mark.postgres_only
def test_worker_survival__connections_terminated_during_a_step_longer_than_the_lease(
    tmp_path,
) -> None:
    children = Children(tmp_path, lease=2.0, step_seconds=5.0)
    try:
        for name in ("worker-1", "worker-2"):
            children.start(name, "work", "forever")
        _wait_for(
            lambda: all(
                "worker up" in children.log(n).read_text() for n in ("worker-1", "worker-2")
            ),
            60,
            "the workers to start",
        )
        assert children.run("start", "start", "survivor") == 0, children.logs()
        _wait_for(lambda: children.step_runs() == 1, 30, "the long step to start")

        time.sleep(0.5)
        assert _terminate_worker_connections() >= 2
        time.sleep(2.0)  # the lease would have lapsed by now without a heartbeat
        assert _terminate_worker_connections() >= 1

        [instance] = WorkflowInstanceModel.objects.all()
        _wait_for(
            lambda: (
                WorkflowInstanceModel.objects.get(pk=instance.pk).status == WorkflowStatus.COMPLETED
            ),
            30,
            "the instance to complete",
        )
    finally:
        children.stop_all()

    logs = children.logs()
    assert children.step_runs() == 1, logs
    instance = WorkflowInstanceModel.objects.get()
    assert (instance.lease_owner, instance.failed_drives) == (None, 0)
    assert instance.context_data == {"long_done": True, "done": True}
    runs = StepExecutionModel.objects.filter(instance_id=instance.pk, step_name="long")
    assert [r.status for r in runs] == [StepStatus.SUCCEEDED]
    # Both repairs were needed: the heartbeat reconnected, and so did the drive's commit.
    assert "could not renew its leases" in logs
    assert "commit failed (OperationalError" in logs
    assert "trying again on a new connection" in logs


def test_worker_survival__a_step_that_kills_every_worker_fails_its_instance(tmp_path) -> None:
    children = Children(tmp_path, lease=1.0)
    try:
        assert children.run("start", "start", "deadly") == 0, children.logs()
        for attempt in range(1, 4):
            code = children.run(f"worker-{attempt}", "work", "burst")
            assert code == -signal.SIGKILL, children.logs()
            assert children.step_runs() == attempt
            time.sleep(1.2)  # the dead worker's lease lapses
        # The fourth worker does not run the step again: it fails the instance, and exits.
        assert children.run("worker-4", "work", "burst") == 0, children.logs()
    finally:
        children.stop_all()

    assert children.step_runs() == 3
    instance = WorkflowInstanceModel.objects.get()
    assert instance.status == WorkflowStatus.FAILED
    assert instance.error.startswith(
        "The drive of this instance failed 3 times in a row while running 'deadly_step'"
    )
    assert (instance.lease_owner, instance.wake_at, instance.failed_drives) == (None, None, 0)
    steps = StepExecutionModel.objects.filter(instance_id=instance.pk)
    assert [(r.step_name, r.status) for r in steps] == [("before", StepStatus.SUCCEEDED)]
