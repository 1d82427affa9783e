"""Workers (PostgreSQL): scale-out, a thousand timers, a worker killed mid-flight, and
how soon an idle worker picks up a started instance (LISTEN/NOTIFY against polling)."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import connection
from django.test import override_settings

from workflows_app import BaseMachineStep, TimerStep, Workflow, WorkflowRegistry

ROOT = Path(__file__).resolve().parent.parent


class IO(BaseMachineStep):
    """A step that waits 20 ms on I/O."""

    def execute(self, context):
        time.sleep(0.02)
        context.set(self.name, True)


class FiveSteps(Workflow):
    name = "bench_five_io_steps"
    steps = [IO("s1"), IO("s2"), IO("s3"), IO("s4"), IO("s5")]
    edges = [("s1", "s2"), ("s2", "s3"), ("s3", "s4"), ("s4", "s5")]


class Alarm(Workflow):
    name = "bench_alarm"
    steps = [TimerStep("alarm", timedelta(seconds=3))]


class Stamp(BaseMachineStep):
    """A step that first records when it started (``time.time()``, in the worker's process)."""

    def execute(self, context):
        context.set("step_started", time.time())


class Pickup(Workflow):
    name = "bench_pickup"
    steps = [Stamp("stamp")]


def registry() -> WorkflowRegistry:
    result = WorkflowRegistry()
    result.register(FiveSteps)
    result.register(Alarm)
    result.register(Pickup)
    return result


def _engine() -> Any:
    from workflows_app.db import PersistentExecutionEngine

    return PersistentExecutionEngine(registry())


def _spawn(mode: str, lease: float = 60, *arguments: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "BENCH_DB_NAME": str(connection.settings_dict["NAME"]),
        "BENCH_LEASE": str(lease),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.child", mode, *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _start(workflow: str, count: int) -> None:
    engine = _engine()
    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
        for _ in range(count):
            engine.start_workflow_sync(workflow)


def _clear() -> None:
    from workflows_app.models import WorkflowInstanceModel

    WorkflowInstanceModel.objects.all().delete()


def _wait(workers: list[subprocess.Popen], timeout: float = 600) -> None:
    for worker in workers:
        worker.wait(timeout=timeout)


def scale_out(args: Any) -> None:
    from workflows_app.models import WorkflowInstanceModel

    count = 80
    rates = {}
    for processes in (1, 4):
        _clear()
        workers = [_spawn("forever") for _ in range(processes)]
        time.sleep(2)  # let them start up: process start is not what is measured
        began = time.perf_counter()
        _start("bench_five_io_steps", count)
        while WorkflowInstanceModel.objects.exclude(status="completed").exists():
            time.sleep(0.02)
        rates[processes] = count / (time.perf_counter() - began)
        for worker in workers:
            worker.terminate()
        _wait(workers)
    print(
        f"workers, 5 steps of 20 ms I/O: 1 process {rates[1]:.1f} instances/s, "
        f"4 processes {rates[4]:.1f}/s ({rates[4] / rates[1]:.1f}x)",
        flush=True,
    )


def timers(args: Any) -> None:
    from workflows_app.models import StepExecutionModel, WorkflowInstanceModel

    _clear()
    engine = _engine()
    for _ in range(1000):
        engine.start_workflow_sync("bench_alarm")  # inline: each parks on its timer
    due = WorkflowInstanceModel.objects.order_by("-wake_at").values_list("wake_at", flat=True)[0]
    workers = [_spawn("forever") for _ in range(2)]
    try:
        while WorkflowInstanceModel.objects.exclude(status="completed").exists():
            time.sleep(0.05)
        done = time.time()
    finally:
        for worker in workers:
            worker.terminate()
        _wait(workers)
    fired = Counter(
        StepExecutionModel.objects.filter(step_name="alarm").values_list("instance_id", flat=True)
    )
    print(
        f"1,000 timers due at once, 2 workers: all fired {done - due.timestamp():.2f} s after "
        f"the last fell due; fired twice: {sum(1 for n in fired.values() if n > 1)}",
        flush=True,
    )


def crash(args: Any) -> None:
    from workflows_app.models import StepExecutionModel, WorkflowInstanceModel

    _clear()
    _start("bench_five_io_steps", 200)
    lease = 2.0
    doomed, survivor = _spawn("forever", lease), _spawn("forever", lease)
    while StepExecutionModel.objects.filter(status="succeeded").count() < 150:
        time.sleep(0.02)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    in_flight = WorkflowInstanceModel.objects.exclude(status="completed").count()
    began = time.perf_counter()
    while WorkflowInstanceModel.objects.exclude(status="completed").exists():
        time.sleep(0.05)
    survivor.terminate()
    survivor.wait()
    successes = Counter(
        StepExecutionModel.objects.filter(status="succeeded").values_list(
            "instance_id", "step_name"
        )
    )
    print(
        f"crash: killed a worker with {in_flight} of 200 instances in flight; all completed "
        f"{time.perf_counter() - began:.1f} s later (lease {lease:.0f} s); "
        f"{len(successes)} step successes recorded, "
        f"{sum(1 for n in successes.values() if n > 1)} twice",
        flush=True,
    )


def _listeners() -> int:
    """How many worker listeners are connected to the benchmark's database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            ["workflows_app listener"],
        )
        return cursor.fetchone()[0]


def _pickup_latencies(listen: bool, count: int, spacing: float) -> list[float]:
    """Start ``count`` instances ``spacing`` seconds apart, with 2 idle worker processes;
    return, for each, the seconds from the start call's return to its step's start."""
    from workflows_app.models import WorkflowInstanceModel

    _clear()
    workers = [_spawn("pickup", 60, "listen" if listen else "poll") for _ in range(2)]
    try:
        deadline = time.monotonic() + 30
        while listen and _listeners() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2)  # let them start up and go idle: process start is not what is measured
        engine = _engine()
        returned = {}
        settings = {"EXECUTION_MODE": "worker", "LISTEN_NOTIFY": listen}
        with override_settings(WORKFLOWS=settings):
            for _ in range(count):
                instance = engine.start_workflow_sync("bench_pickup")
                returned[str(instance.id)] = time.time()
                time.sleep(spacing)
        while WorkflowInstanceModel.objects.exclude(status="completed").exists():
            time.sleep(0.05)
    finally:
        for worker in workers:
            worker.terminate()
        _wait(workers)
    rows = WorkflowInstanceModel.objects.values_list("id", "context_data__step_started")
    started = {str(pk): float(at) for pk, at in rows}
    return [started[pk] - at for pk, at in returned.items()]


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000


def pickup(args: Any) -> None:
    """Worker-mode pickup latency: from the start call's return to the first step's start."""
    if connection.vendor != "postgresql":
        print("worker pickup latency: PostgreSQL only, skipped", flush=True)
        return
    count, spacing = 200, 0.05  # apart enough that both workers are idle at each start
    listen = _percentiles(_pickup_latencies(True, count, spacing))
    poll = _percentiles(_pickup_latencies(False, count, spacing))
    print(
        f"worker pickup latency, {count} instances started {spacing * 1000:.0f} ms apart, "
        f"2 idle worker processes: LISTEN/NOTIFY p50 {listen[0]:.1f} ms, p95 {listen[1]:.1f} ms "
        f"(targets 20 / 100 ms); polling only (poll interval 1 s) p50 {poll[0]:.0f} ms, "
        f"p95 {poll[1]:.0f} ms",
        flush=True,
    )


def workers(args: Any) -> None:
    if connection.vendor != "postgresql":
        print("worker benchmarks: PostgreSQL only, skipped", flush=True)
        return
    scale_out(args)
    timers(args)
    crash(args)


BENCHMARKS = [("workers", workers), ("workers_pickup", pickup)]
