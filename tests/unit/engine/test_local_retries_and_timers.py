"""LocalExecutionEngine: retries and timers follow the same semantics, in memory."""

from __future__ import annotations

from datetime import timedelta

from workflows_app import (
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    TimerStep,
    WorkflowDefinition,
    WorkflowRegistry,
)
from workflows_app.core.retry import RetryPolicy


class Flaky(BaseMachineStep):
    def __init__(self, name: str, failures: int, **policy) -> None:
        super().__init__(name=name)
        self.failures = failures
        self.calls = 0
        self.retry_policy = RetryPolicy(jitter=0, initial_interval=timedelta(0), **policy)

    def execute(self, context):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"attempt {self.calls}")
        return {"attempts": self.calls}


def _run(steps, edges):
    definition = WorkflowDefinition(
        name="wf",
        version="1.0.0",
        description="",
        steps={s.name: s for s in steps},
        edges=edges,
        initial_step=steps[0].name,
    )

    class Wf:
        @classmethod
        def get_definition(cls):
            return definition

    return LocalExecutionEngine(WorkflowRegistry()).start_workflow_sync(Wf)


def test_local_retry__tries_again_until_it_succeeds() -> None:
    step = Flaky("call", failures=2, max_attempts=3)
    instance = _run([step], [])
    assert instance.status == "completed"
    assert [(e.status, e.attempt) for e in instance.context.step_history] == [
        ("failed", 1),
        ("failed", 2),
        ("succeeded", 3),
    ]


def test_local_retry__fails_when_attempts_run_out() -> None:
    step = Flaky("call", failures=9, max_attempts=2)
    instance = _run([step], [])
    assert (instance.status, instance.error, step.calls) == ("failed", "attempt 2", 2)


def test_local_timer__waits_then_moves_on() -> None:
    class After(BaseMachineStep):
        name = "after"

        def execute(self, context):
            context.set("after", True)

    instance = _run(
        [TimerStep("wait", timedelta(milliseconds=10)), After()], [Edge("wait", "after")]
    )
    assert instance.status == "completed"
    assert [e.step_name for e in instance.context.step_history] == ["wait", "after"]
    wait = instance.context.step_history[0]
    assert wait.completed_at - wait.started_at >= timedelta(milliseconds=10)
