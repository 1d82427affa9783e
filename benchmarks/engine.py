"""Engine throughput: a linear workflow of 3 machine steps, and an approval round trip.

``linear3`` and ``approval`` time the ``_sync`` API with ``def execute`` steps.
``documented`` times the path the litestar-workflows documentation shows, on the same
workloads: ``async def execute`` steps, ``await engine.start_workflow(...)``, then
``await engine.get_instance(...)`` until the instance is not running, and
``await engine.complete_human_task(...)``; it prints the ratio to the ``_sync`` path of the
same run. ``async_step`` prints what an ``async def execute`` step costs over a ``def``
one. :mod:`benchmarks.peers` compares these figures with other engines.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection, connections
from django.test import override_settings

from workflows_app import BaseHumanStep, BaseMachineStep, Workflow, WorkflowRegistry
from workflows_app.db import PersistentExecutionEngine


class Step(BaseMachineStep):
    def execute(self, context):
        context.set(self.name, True)
        return {"step": self.name}


class AsyncStep(BaseMachineStep):
    """The same step written as upstream's documentation writes steps."""

    async def execute(self, context):
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


class AsyncLinear3(Workflow):
    name = "bench_linear3_async"
    steps = [AsyncStep("a"), AsyncStep("b"), AsyncStep("c")]
    edges = [("a", "b"), ("b", "c")]


class AsyncApproval(Workflow):
    name = "bench_approval_async"
    steps = [AsyncStep("submit"), Approve, AsyncStep("record")]
    edges = [("submit", "approve"), ("approve", "record")]


STEPS = 20


class Steps20(Workflow):
    name = "bench_steps20"
    steps = [Step(f"s{i:02}") for i in range(STEPS)]
    edges = [(f"s{i:02}", f"s{i + 1:02}") for i in range(STEPS - 1)]


class AsyncSteps20(Workflow):
    name = "bench_steps20_async"
    steps = [AsyncStep(f"s{i:02}") for i in range(STEPS)]
    edges = [(f"s{i:02}", f"s{i + 1:02}") for i in range(STEPS - 1)]


def _engine() -> PersistentExecutionEngine:
    registry = WorkflowRegistry()
    for workflow in (Linear3, Approval, AsyncLinear3, AsyncApproval, Steps20, AsyncSteps20):
        registry.register(workflow)
    return PersistentExecutionEngine(registry)


# As in production: DEBUG off (with it on, Django keeps every query's SQL).
production = override_settings(DEBUG=False)


def _report(name: str, count: int, seconds: float, steps_each: int) -> None:
    print(
        f"{name}: {count} instances in {seconds:.2f} s = {count / seconds:.0f}/s, "
        f"{seconds * 1000 / (count * steps_each):.2f} ms per step",
        flush=True,
    )


def _run_sync(workload: str, count: int) -> float:
    """Run ``count`` instances of ``workload`` through the ``_sync`` API; return seconds."""
    engine = _engine()
    workflow = Linear3 if workload == "linear3" else Approval
    engine.start_workflow_sync(workflow.name)  # warm up: definition row, caches
    started = time.perf_counter()
    for _ in range(count):
        instance = engine.start_workflow_sync(workflow.name, {"n": 1})
        if workload == "approval":
            assert instance.status == "waiting", instance.status
            instance = engine.complete_human_task_sync(
                instance.id, "approve", "bob", {"approved": True}
            )
        assert instance.status == "completed", instance.status
    return time.perf_counter() - started


async def _settled(engine: PersistentExecutionEngine, instance_id: Any) -> Any:
    """Poll ``get_instance`` until the instance is not running, as upstream's users must."""
    while (instance := await engine.get_instance(instance_id)).status == "running":
        pass
    return instance


async def _run_documented(workload: str, count: int) -> float:
    """Run ``count`` instances of ``workload`` the documented way; return seconds."""
    engine = _engine()
    workflow = AsyncLinear3 if workload == "linear3" else AsyncApproval

    async def one() -> None:
        instance = await engine.start_workflow(workflow, initial_data={"n": 1})
        instance = await _settled(engine, instance.id)
        if workload == "approval":
            assert instance.status == "waiting", instance.status
            await engine.complete_human_task(instance.id, "approve", "bob", {"approved": True})
            instance = await _settled(engine, instance.id)
        assert instance.status == "completed", instance.status

    try:
        await one()  # warm up
        started = time.perf_counter()
        for _ in range(count):
            await one()
        return time.perf_counter() - started
    finally:
        # The async API works on connections of other threads: close them, or PostgreSQL
        # cannot drop the benchmark database at the end.
        await sync_to_async(connections.close_all)()


_FIGURES: dict[tuple[str, str], float] = {}


@production
def figures(count: int) -> dict[tuple[str, str], float]:
    """Instances/s of (``"sync"`` or ``"documented"``, workload), measured once per run."""
    if not _FIGURES:
        for workload in ("linear3", "approval"):
            _FIGURES["sync", workload] = count / _run_sync(workload, count)
            seconds = asyncio.run(_run_documented(workload, count))
            _FIGURES["documented", workload] = count / seconds
    return _FIGURES


@production
def linear3(args: Any) -> None:
    _report(
        "linear-3 (start to completed)", args.instances, _run_sync("linear3", args.instances), 3
    )


@production
def approval(args: Any) -> None:
    _report("approval round trip", args.instances, _run_sync("approval", args.instances), 3)


def documented(args: Any) -> None:
    rates = figures(args.compare_instances)
    print(
        "documented path (async def execute steps, await start_workflow, await get_instance "
        "until settled, await complete_human_task) / _sync path (def execute steps), "
        f"{args.compare_instances} instances each:",
        flush=True,
    )
    for workload, label in (("linear3", "linear-3"), ("approval", "approval round trip")):
        ours, sync = rates["documented", workload], rates["sync", workload]
        print(
            f"  {label}: {ours:.0f}/s / {sync:.0f}/s = {ours / sync:.2f}x (target >= 0.8x)",
            flush=True,
        )


def _statements(function: Any, *args: Any) -> int:
    """Return how many SQL statements ``function(*args)`` runs on this thread's connection."""
    count = 0

    def counting(execute, sql, params, many, context):
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counting):
        function(*args)
    return count


@production
def async_step(args: Any) -> None:
    engine = _engine()
    for workflow in (Steps20, AsyncSteps20):  # warm up, and count the SQL of one instance
        engine.start_workflow_sync(workflow.name)
    queries = [_statements(engine.start_workflow_sync, w.name) for w in (Steps20, AsyncSteps20)]
    # Rounds of each kind, interleaved, so that a busy moment of the machine hits both.
    per_step: dict[str, list[float]] = {Steps20.name: [], AsyncSteps20.name: []}
    count = 10
    for _ in range(7):
        for workflow in (Steps20, AsyncSteps20):
            started = time.perf_counter()
            for _ in range(count):
                instance = engine.start_workflow_sync(workflow.name, {"n": 1})
                assert instance.status == "completed", instance.status
            per_step[workflow.name].append((time.perf_counter() - started) / (count * STEPS))
    sync_ms = statistics.median(per_step[Steps20.name]) * 1000
    async_ms = statistics.median(per_step[AsyncSteps20.name]) * 1000
    same_sql = (
        f"the same {queries[0]} SQL statements per instance"
        if queries[0] == queries[1]
        else f"NOT the same SQL: {queries[0]} and {queries[1]} statements per instance"
    )
    print(
        f"cost of an async def execute step over a def one ({STEPS} steps, start_workflow_sync, "
        f"{same_sql}): def {sync_ms:.3f} ms, async def {async_ms:.3f} ms per step, "
        f"{async_ms - sync_ms:+.3f} ms (target <= 0.1 ms)",
        flush=True,
    )


BENCHMARKS = [
    ("linear3", linear3),
    ("approval", approval),
    ("documented", documented),
    ("async_step", async_step),
]
