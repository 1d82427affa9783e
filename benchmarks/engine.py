"""Engine throughput: a linear workflow of 3 machine steps, and an approval round trip."""

from __future__ import annotations

import time
from typing import Any

from workflows_app import BaseHumanStep, BaseMachineStep, Workflow, WorkflowRegistry
from workflows_app.db import PersistentExecutionEngine


class Step(BaseMachineStep):
    def execute(self, context):
        context.set(self.name, True)
        return {"step": self.name}


class Linear3(Workflow):
    name = "bench_linear3"
    steps = [Step("a"), Step("b"), Step("c")]
    edges = [("a", "b"), ("b", "c")]


class Approve(BaseHumanStep):
    name = "approve"
    title = "Approve"
    assignee_group = "managers"
    form_schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}},
        "required": ["approved"],
    }


class Approval(Workflow):
    name = "bench_approval"
    steps = [Step("submit"), Approve, Step("record")]
    edges = [("submit", "approve"), ("approve", "record")]


def _engine() -> PersistentExecutionEngine:
    registry = WorkflowRegistry()
    registry.register(Linear3)
    registry.register(Approval)
    return PersistentExecutionEngine(registry)


def _report(name: str, count: int, seconds: float, steps_each: int) -> None:
    print(
        f"{name}: {count} instances in {seconds:.2f} s = {count / seconds:.0f}/s, "
        f"{seconds * 1000 / (count * steps_each):.2f} ms per step",
        flush=True,
    )


def linear3(args: Any) -> None:
    engine = _engine()
    engine.start_workflow_sync("bench_linear3")  # warm up: definition row, caches
    started = time.perf_counter()
    for _ in range(args.instances):
        instance = engine.start_workflow_sync("bench_linear3", {"n": 1})
        assert instance.status == "completed", instance.status
    _report("linear-3 (start to completed)", args.instances, time.perf_counter() - started, 3)


def approval(args: Any) -> None:
    engine = _engine()
    engine.start_workflow_sync("bench_approval")
    started = time.perf_counter()
    for _ in range(args.instances):
        instance = engine.start_workflow_sync("bench_approval", {"n": 1})
        assert instance.status == "waiting", instance.status
        done = engine.complete_human_task_sync(instance.id, "approve", "bob", {"approved": True})
        assert done.status == "completed", done.status
    _report("approval round trip", args.instances, time.perf_counter() - started, 3)


BENCHMARKS = [("linear3", linear3), ("approval", approval)]
