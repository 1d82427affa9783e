"""A process killed in the middle of a workflow leaves the database consistent.

A child Python process, pointed at this run's test database, starts a workflow and kills
itself with SIGKILL (no cleanup, no rollback from the client side): once while a machine step
runs (outside any transaction), once inside the transaction that parks a human step. The
parent then reads the rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.integration.helpers import executions, tasks
from workflows_app import WorkflowRegistry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
]

REPO_ROOT = Path(settings.BASE_DIR)

CHILD = textwrap.dedent(
    """
    import os, signal, sys

    import django
    from django.conf import settings

    # The test database of the parent run (pytest-django created it; its name differs from
    # the one in project.settings).
    settings.DATABASES["default"]["NAME"] = os.environ["WF_CRASH_DB_NAME"]
    settings.WORKFLOWS = {"CHECKPOINT_INTERVAL": float(os.environ["WF_CHECKPOINT_INTERVAL"])}
    django.setup()

    from workflows_app import BaseHumanStep, BaseMachineStep, Edge, WorkflowDefinition, WorkflowRegistry
    from workflows_app.engine.persistent import PersistentExecutionEngine

    MODE = sys.argv[1]


    def die():
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)


    SEEN = {}


    class Mark(BaseMachineStep):
        def execute(self, ctx):
            SEEN["instance_id"] = ctx.instance_id
            ctx.set(self.name.lower() + "_done", True)
            return {"s": self.name}


    class Killer(BaseMachineStep):
        def execute(self, ctx):
            print(ctx.instance_id, flush=True)
            die()


    if MODE == "machine":
        second = Killer(name="B")
    else:
        second = BaseHumanStep(name="H", title="Approve")

        def die_when_the_task_is_written(execute, sql, params, many, context):
            # Inside the transaction that writes the waiting row and the task.
            if "INSERT" in sql and "workflow_human_tasks" in sql:
                print(SEEN["instance_id"], flush=True)
                die()
            return execute(sql, params, many, context)

        from django.db import connection as _connection

        _connection.execute_wrappers.append(die_when_the_task_is_written)

    steps = [Mark(name="A"), second, Mark(name="C")]
    definition = WorkflowDefinition(
        name="crash_wf",
        version="1.0.0",
        description="killed on purpose",
        steps={s.name: s for s in steps},
        edges=[Edge("A", second.name), Edge(second.name, "C")],
        initial_step="A",
        terminal_steps={"C"},
    )
    registry = WorkflowRegistry()
    registry.register_definition(definition)
    PersistentExecutionEngine(registry).start_workflow_sync("crash_wf", {"x": 1}, created_by="crash")
    print("NOT KILLED", flush=True)
    """
)


def run_child(mode: str, checkpoint_interval: float = 0) -> uuid.UUID:
    env = {
        **os.environ,
        "WF_CHECKPOINT_INTERVAL": str(checkpoint_interval),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "WF_CRASH_DB_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": str(REPO_ROOT),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stdout, child.stderr)
    assert "NOT KILLED" not in child.stdout
    return uuid.UUID(child.stdout.strip().splitlines()[-1])


def test_crash_while_a_machine_step_runs() -> None:
    # CHECKPOINT_INTERVAL 0: every step's result is committed before the next step runs.
    instance_id = run_child("machine", checkpoint_interval=0)

    row = WorkflowInstanceModel.objects.get(pk=instance_id)
    assert WorkflowInstanceModel.objects.count() == 1
    assert row.status == "running"
    assert row.current_step == "B"
    assert [(t["step"], t["state"]) for t in row.tokens] == [("B", "running")]
    assert row.context_data == {"x": 1, "a_done": True}
    assert (row.error, row.completed_at) == (None, None)
    assert row.created_by == "crash"

    (a_row,) = executions(instance_id)  # nothing half-written for B
    assert (a_row.step_name, a_row.status, a_row.output_data) == ("A", "succeeded", {"s": "A"})
    assert a_row.completed_at is not None
    assert a_row.input_data == {"x": 1}
    assert HumanTaskModel.objects.count() == 0
    assert WorkflowDefinitionModel.objects.filter(name="crash_wf", version="1.0.0").count() == 1

    # The rows are not left locked: another process can still act on the instance.
    PersistentExecutionEngine(WorkflowRegistry()).cancel_workflow_sync(instance_id, "worker died")
    assert WorkflowInstanceModel.objects.get(pk=instance_id).status == "canceled"


def test_crash_inside_the_transaction_that_parks_a_human_step() -> None:
    # CHECKPOINT_INTERVAL 0: A's result is committed before the human step is parked.
    instance_id = run_child("task", checkpoint_interval=0)

    row = WorkflowInstanceModel.objects.get(pk=instance_id)
    assert row.status == "running"
    assert [(t["step"], t["state"]) for t in row.tokens] == [("H", "ready")]
    assert row.context_data == {"x": 1, "a_done": True}
    # The waiting StepExecution row and the task were written in the killed transaction:
    # neither may be visible.
    assert [r.step_name for r in executions(instance_id)] == ["A"]
    assert tasks(instance_id) == []
    assert StepExecutionModel.objects.filter(status="waiting").count() == 0

    PersistentExecutionEngine(WorkflowRegistry()).cancel_workflow_sync(instance_id, "worker died")
    assert WorkflowInstanceModel.objects.get(pk=instance_id).status == "canceled"


def test_crash_while_a_machine_step_runs__uncommitted_batch_is_lost_not_half_written() -> None:
    # With the default CHECKPOINT_INTERVAL, A's result is still in the uncommitted batch when
    # B kills the process: the database shows the instance as it was committed at start,
    # with A claimed, so A runs again when the branch is reclaimed (at-least-once).
    instance_id = run_child("machine", checkpoint_interval=60)

    row = WorkflowInstanceModel.objects.get(pk=instance_id)
    assert row.status == "running"
    assert row.current_step == "A"
    assert [(t["step"], t["state"]) for t in row.tokens] == [("A", "running")]
    assert row.context_data == {"x": 1}
    assert executions(instance_id) == []
    assert StepExecutionModel.objects.count() == 0
