# Execution: parallel branches and joins, failure and retry, cancel, events.
from __future__ import annotations

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    LocalExecutionEngine,
    Workflow,
    WorkflowAlreadyCompletedError,
    WorkflowRegistry,
)
from workflows_app.testing import RecordingEventBus


class Record(BaseMachineStep):
    def execute(self, context):
        context.set(self.name, True)


class Flaky(BaseMachineStep):
    name = "provision"
    calls = 0

    def execute(self, context):
        Flaky.calls += 1
        if Flaky.calls == 1:
            raise ConnectionError("directory service unavailable")
        context.set("provisioned", True)


class Welcome(BaseHumanStep):
    name = "welcome"
    title = "Welcome the new hire"


class Onboarding(Workflow):
    name = "onboarding"
    steps = [Record("start"), Record("laptop"), Flaky, Welcome, Record("ready")]
    edges = [
        ("start", "laptop"),
        ("start", "provision"),
        ("start", "welcome"),
        ("laptop", "ready"),
        ("provision", "ready"),
        ("welcome", "ready"),
    ]


registry = WorkflowRegistry()
registry.register(Onboarding)
events = RecordingEventBus()  # a test double that keeps what it is sent
engine = LocalExecutionEngine(registry, event_bus=events)

instance = engine.start_workflow_sync("onboarding")
assert instance.status == "failed"
assert instance.error == "directory service unavailable"

engine.retry_sync(instance.id)  # runs the failed step again
assert instance.status == "waiting" and instance.current_step == "welcome"

engine.complete_human_task_sync(instance.id, "welcome", "carol", {})
assert instance.status == "completed"
history = [e.step_name for e in instance.context.step_history]
assert history.count("ready") == 1 and history[-1] == "ready"  # the join ran once, last

try:
    engine.cancel_workflow_sync(instance.id, "too late")
except WorkflowAlreadyCompletedError as exc:
    assert "already completed" in str(exc)

assert events.names()[0] == "workflow.started"
assert events.names("workflow.")[-1] == "workflow.completed"
