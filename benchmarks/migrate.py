"""Moving waiting instances to another version (issue 14): ``--migrate-instances`` instances
(10,000 by default) wait at a human task of version 1.0.0; the preview, then the move to
1.1.0 (the task's step renamed, a step added after it) are timed; then the move back
(``plan.inverse()``) runs under ``tracemalloc`` for its peak memory, which the reads in
batches keep bounded (what grows is the result's list of ids).

The instances are started through the engine, as production writes them.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

from django.db import connection

from benchmarks.engine import Step, production
from workflows_app import BaseHumanStep, MigrationPlan, Workflow, WorkflowRegistry
from workflows_app.db import PersistentExecutionEngine


class Approve(BaseHumanStep):
    name = "approve"
    title = "Approve"
    assignee_group = "managers"


class Check(BaseHumanStep):
    name = "check"
    title = "Check the budget"
    assignee_group = "managers"


class MovingOne(Workflow):
    name = "bench_moving"
    version = "1.0.0"
    steps = [Step("submit"), Approve, Step("record")]
    edges = [("submit", "approve"), ("approve", "record")]


class MovingTwo(Workflow):
    name = "bench_moving"
    version = "1.1.0"
    steps = [Step("submit"), Check, Step("audit"), Step("record")]
    edges = [("submit", "check"), ("check", "audit"), ("audit", "record")]


PLAN = MigrationPlan("bench_moving", "1.0.0", "1.1.0", {"approve": "check"})


def migrate(args: Any) -> None:
    registry = WorkflowRegistry()
    registry.register(MovingOne)
    registry.register(MovingTwo)
    engine = PersistentExecutionEngine(registry)
    count = args.migrate_instances
    with production:
        started = time.perf_counter()
        for _ in range(count):
            engine.start_workflow_sync("bench_moving", version="1.0.0")
        filled = time.perf_counter() - started
        print(
            f"migrate: started {count:,} waiting instances in {filled:.1f} s "
            f"({count / filled:.0f}/s)",
            flush=True,
        )

        began = time.perf_counter()
        preview = engine.plan_migration_sync(PLAN)
        seconds = time.perf_counter() - began
        print(
            f"migrate: preview of {len(preview.instances):,} instances in {seconds:.2f} s "
            f"= {len(preview.instances) / seconds:.0f}/s ({len(preview.movable):,} movable)",
            flush=True,
        )

        began = time.perf_counter()
        result = engine.migrate_instances_sync(PLAN)
        seconds = time.perf_counter() - began
        print(
            f"migrate ({connection.vendor}): moved {len(result.moved):,} instances in "
            f"{seconds:.2f} s = {len(result.moved) / seconds:.0f}/s "
            f"({len(result.skipped)} skipped, {len(result.failed)} failed)",
            flush=True,
        )

        tracemalloc.start()
        began = time.perf_counter()
        back = engine.migrate_instances_sync(PLAN.inverse())
        seconds = time.perf_counter() - began
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"migrate back under tracemalloc: {len(back.moved):,} instances in {seconds:.2f} s, "
            f"peak {peak / 2**20:.1f} MiB ({peak / max(len(back.moved), 1):.0f} bytes "
            "per instance)",
            flush=True,
        )


BENCHMARKS = [("migrate", migrate)]
