"""Compensation (sagas) on every engine and mode: a failure after the retries, or a cancel
with ``compensate=True``, undoes the completed steps in reverse order (branch by branch),
each once; a failing compensation keeps both errors, its retry policy tries it again, and
``retry`` runs it again."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from tests.engine_contract.kit import Edge, human, marker, workflow
from workflows_app import BaseMachineStep, RetryPolicy, WorkflowContext, WorkflowStateError


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def add(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)

    def undone(self) -> list[str]:
        return [line.removeprefix("undo ") for line in self.lines if line.startswith("undo ")]


class Undoable(BaseMachineStep):
    """An async step with an async ``compensate``; ``fail`` makes it raise, ``fail_undo``
    makes its first compensations raise."""

    def __init__(self, name: str, log: Log, *, fail: bool = False, fail_undo: int = 0) -> None:
        super().__init__(name=name)
        self.log, self.fail, self.fail_undo = log, fail, fail_undo

    async def execute(self, context: WorkflowContext) -> Any:
        self.log.add(f"do {self.name}")
        if self.fail:
            raise RuntimeError(f"{self.name} is down")
        return {self.name: "ok"}

    async def compensate(self, context: WorkflowContext) -> None:
        self.log.add(f"undo {self.name}")
        if self.fail_undo:
            self.fail_undo -= 1
            raise RuntimeError(f"cannot undo {self.name}")
        context.set(f"{self.name}_undone", True)


def order(log: Log, **charge: Any) -> type:
    steps = [
        Undoable("charge", log, **charge),
        marker("notify"),
        Undoable("reserve", log),
        Undoable("ship", log, fail=True),
    ]
    edges = [Edge("charge", "notify"), Edge("notify", "reserve"), Edge("reserve", "ship")]
    return workflow(steps, edges)


def compensations(snapshot: Any) -> list[tuple[str, str, int]]:
    return [(e.step, e.status, e.attempt) for e in snapshot.history if e.kind == "compensation"]


def test_a_failure_undoes_the_completed_steps_in_reverse_order_once(harness, bus) -> None:
    log = Log()
    instance_id = harness.start(order(log))
    failed = harness.get(instance_id)
    assert (failed.status, failed.error) == ("failed", "ship is down")
    assert log.undone() == ["reserve", "charge"]
    assert failed.data["reserve_undone"] and failed.data["charge_undone"]
    assert compensations(failed) == [("reserve", "succeeded", 1), ("charge", "succeeded", 1)]
    record = failed.metadata["compensation"]
    assert (record["status"], record["cause"], record["done"]) == (
        "completed",
        "failed",
        ["reserve", "charge"],
    )
    assert bus.names("workflow.")[-2:] == ["workflow.compensating", "workflow.failed"]
    assert [p["step_name"] for p in bus.of("step.compensated")] == ["reserve", "charge"]
    with pytest.raises(WorkflowStateError, match="compensated"):
        harness.retry(instance_id)
    assert log.undone() == ["reserve", "charge"]


def test_cancel_with_compensate_undoes_then_ends_canceled(harness) -> None:
    log = Log()
    steps = [Undoable("charge", log), Undoable("reserve", log), human("approve")]
    wf = workflow(steps, [Edge("charge", "reserve"), Edge("reserve", "approve")])
    instance_id = harness.start(wf)
    assert harness.get(instance_id).status == "waiting"
    harness.cancel(instance_id, "customer left", compensate=True)
    canceled = harness.get(instance_id)
    assert (canceled.status, canceled.error) == ("canceled", "Canceled: customer left")
    assert log.undone() == ["reserve", "charge"]
    assert ("approve", "canceled") in canceled.trail
    assert canceled.metadata["compensation"]["cause"] == "canceled"
    if harness.has_tasks:
        [task] = harness.tasks(instance_id)
        assert task["status"] == "canceled"


def test_a_failing_compensation_keeps_both_errors_and_its_retry_undoes_the_rest(
    harness,
) -> None:
    log = Log()
    instance_id = harness.start(order(log, fail_undo=1))
    failed = harness.get(instance_id)
    assert failed.status == "failed"
    assert failed.error == "ship is down; compensating 'charge' failed: cannot undo charge"
    assert failed.metadata["compensation"]["status"] == "failed"
    assert compensations(failed) == [("reserve", "succeeded", 1), ("charge", "failed", 1)]

    harness.retry(instance_id)
    done = harness.get(instance_id)
    assert (done.status, done.error) == ("failed", "ship is down")
    assert done.metadata["compensation"]["status"] == "completed"
    assert log.undone() == ["reserve", "charge", "charge"]
    assert log.lines.count("do ship") == 1


def test_a_compensation_is_tried_again_by_its_retry_policy(harness) -> None:
    log = Log()
    wf = order(log, fail_undo=1)
    charge = wf.get_definition().steps["charge"]
    charge.compensate_retry_policy = RetryPolicy(
        max_attempts=2, initial_interval=timedelta(seconds=30), jitter=0
    )
    instance_id = harness.start(wf)
    waiting = harness.get(instance_id)
    assert waiting.status == "running"  # the compensation's retry is due in 30 s
    assert waiting.metadata["compensation"]["status"] == "running"
    harness.advance(31)
    done = harness.get(instance_id)
    assert done.status == "failed"
    assert compensations(done) == [
        ("reserve", "succeeded", 1),
        ("charge", "failed", 1),
        ("charge", "succeeded", 2),
    ]


def test_parallel_branches_are_undone_branch_by_branch(harness) -> None:
    log = Log()
    steps = [
        Undoable("start", log),
        Undoable("a1", log),
        Undoable("b1", log),
        Undoable("a2", log),
        Undoable("ship", log, fail=True),
    ]
    edges = [
        Edge("start", "a1"),
        Edge("start", "b1"),
        Edge("a1", "a2"),
        Edge("a2", "ship"),
        Edge("b1", "ship"),
    ]
    instance_id = harness.start(workflow(steps, edges))
    assert harness.get(instance_id).status == "failed"
    done = [line for line in log.lines if line.startswith("do ")]
    assert done.index("do b1") < done.index("do a2")  # the branches interleaved
    assert log.undone() == ["a2", "a1", "b1", "start"]
