# Worker mode, a retry policy and a timer, run by a worker (docs/workers.rst).
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.test import override_settings

from workflows_app import BaseMachineStep, TimerStep, Workflow, WorkflowRegistry
from workflows_app.core.retry import RetryPolicy
from workflows_app.db import PersistentExecutionEngine
from workflows_app.engine.worker import Worker


class Reserve(BaseMachineStep):
    name = "reserve"
    # Up to 5 attempts, 2 s apart at first, then 4 s, 8 s...; a ValueError is final.
    retry_policy = RetryPolicy(
        max_attempts=5,
        initial_interval=timedelta(seconds=2),
        non_retryable=(ValueError,),
    )

    def execute(self, context):
        context.set("reserved", True)


class Remind(TimerStep):
    name = "remind"

    @staticmethod
    def until(context):
        # "Wait until" a moment computed from the data; here it has already passed.
        return datetime.now(UTC) - timedelta(seconds=1)


class Confirm(BaseMachineStep):
    name = "confirm"

    def execute(self, context):
        context.set("confirmed", True)


class Booking(Workflow):
    name = "booking"
    steps = [Reserve, Remind, Confirm]
    edges = [("reserve", "remind"), ("remind", "confirm")]


registry = WorkflowRegistry()
registry.register(Booking)
engine = PersistentExecutionEngine(registry)

with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
    instance = engine.start_workflow_sync("booking")
    assert instance.status == "running"  # committed; nothing has run yet

    # What `manage.py workflows_worker --burst` does: run what is due, then return.
    Worker(engine, burst=True).run()

instance = engine.get_instance_sync(instance.id)
assert instance.status == "completed"
assert [e.step_name for e in instance.context.step_history] == ["reserve", "remind", "confirm"]
