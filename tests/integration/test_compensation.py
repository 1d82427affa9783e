"""Compensation (sagas) in the persistent engine: when an instance fails after its
retries, or is canceled with ``compensate=True``, its completed steps are undone in reverse
order of completion, each once, each recorded as a step execution of type compensation;
a compensation that fails leaves the instance failed with both errors and can be retried."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.helpers import Edge, executions, human, workflow
from workflows_app import BaseMachineStep, RetryPolicy, WorkflowContext, WorkflowStateError
from workflows_app.core.types import StepType, TaskStatus, WorkflowStatus
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db

NO_WAIT = timedelta(0)


class Undoable(BaseMachineStep):
    """A step that logs ``do <name>`` and, to undo it, ``undo <name>``; ``fail`` makes its
    execute raise, ``fail_undo`` its compensation (that many times, -1: always)."""

    def __init__(self, name: str, log: list[str], *, fail: bool = False, fail_undo: int = 0):
        super().__init__(name=name)
        self.log, self.fail, self.fail_undo = log, fail, fail_undo

    def execute(self, context: WorkflowContext) -> Any:
        self.log.append(f"do {self.name}")
        if self.fail:
            raise RuntimeError(f"{self.name} is down")
        context.set(f"{self.name}_id", f"{self.name}-1")
        return {self.name: "ok"}

    def compensate(self, context: WorkflowContext) -> None:
        self.log.append(f"undo {self.name}")
        if self.fail_undo:
            self.fail_undo -= 1
            raise RuntimeError(f"cannot undo {self.name}")
        context.set(f"{self.name}_undone", context.get(f"{self.name}_id"))


class Plain(BaseMachineStep):
    """A step without a compensation."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__(name=name)
        self.log = log

    def execute(self, context: WorkflowContext) -> None:
        self.log.append(f"do {self.name}")


def order(
    log: list[str],
    *,
    fail_undo: int = 0,
    retry_undo: RetryPolicy | None = None,
    name: str = "order",
) -> type:
    charge = Undoable("charge", log, fail_undo=fail_undo)
    if retry_undo is not None:
        charge.compensate_retry_policy = retry_undo
    steps = [
        charge,
        Plain("notify", log),
        Undoable("reserve", log),
        Undoable("ship", log, fail=True),
    ]
    edges = [Edge("charge", "notify"), Edge("notify", "reserve"), Edge("reserve", "ship")]
    return workflow(steps, edges, name=name)


def compensations(instance_id: Any) -> list[tuple[str, str, int]]:
    return [
        (row.step_name, row.status, row.attempt)
        for row in executions(instance_id)
        if row.step_type == StepType.COMPENSATION
    ]


def test_compensation__a_failure_undoes_the_completed_steps_in_reverse_once(engine) -> None:
    log: list[str] = []
    failed = engine.start_workflow_sync(order(log))

    assert log == ["do charge", "do notify", "do reserve", "do ship", "undo reserve", "undo charge"]
    assert failed.status == WorkflowStatus.FAILED
    assert failed.error == "ship is down"
    assert failed.tokens == []
    assert failed.context.data["reserve_undone"] == "reserve-1"
    assert failed.context.data["charge_undone"] == "charge-1"
    record = failed.context.metadata["compensation"]
    assert record["status"] == "completed"
    assert (record["cause"], record["done"], record["pending"]) == (
        "failed",
        ["reserve", "charge"],
        [],
    )
    assert compensations(failed.id) == [("reserve", "succeeded", 1), ("charge", "succeeded", 1)]
    row = WorkflowInstanceModel.objects.get(pk=failed.id)
    assert (row.status, row.lease_owner, row.metadata["compensation"]["status"]) == (
        "failed",
        None,
        "completed",
    )
    kinds = [entry.kind for entry in engine.get_instance_sync(failed.id).context.step_history]
    assert kinds.count("compensation") == 2
    with pytest.raises(WorkflowStateError, match="compensated"):
        engine.retry_sync(failed.id)
    assert log.count("undo charge") == 1


def test_compensation__nothing_to_undo_fails_as_before(engine) -> None:
    log: list[str] = []
    steps = [Plain("a", log), Undoable("ship", log, fail=True)]
    failed = engine.start_workflow_sync(workflow(steps, [Edge("a", "ship")]))
    assert failed.status == WorkflowStatus.FAILED
    assert "compensation" not in failed.context.metadata
    assert compensations(failed.id) == []
    retried = engine.retry_sync(failed.id)
    assert retried.status == WorkflowStatus.FAILED  # plain retry still works


def test_compensation__cancel_with_compensate_undoes_and_ends_canceled(engine) -> None:
    log: list[str] = []
    steps = [Undoable("charge", log), Undoable("reserve", log), human("approve")]
    edges = [Edge("charge", "reserve"), Edge("reserve", "approve")]
    started = engine.start_workflow_sync(workflow(steps, edges))
    assert started.status == WorkflowStatus.WAITING

    canceled = engine.cancel_workflow_sync(started.id, "customer left", compensate=True)

    assert canceled.status == WorkflowStatus.CANCELED
    assert canceled.error == "Canceled: customer left"
    assert log[-2:] == ["undo reserve", "undo charge"]
    assert canceled.context.metadata["compensation"]["cause"] == "canceled"
    assert canceled.context.metadata["compensation"]["status"] == "completed"
    assert compensations(started.id) == [("reserve", "succeeded", 1), ("charge", "succeeded", 1)]
    assert HumanTaskModel.objects.get(instance_id=started.id).status == TaskStatus.CANCELED


def test_compensation__cancel_keeps_its_old_signature(engine) -> None:
    log: list[str] = []
    steps = [Undoable("charge", log), human("approve")]
    started = engine.start_workflow_sync(workflow(steps, [Edge("charge", "approve")]))
    canceled = engine.cancel_workflow_sync(started.id, "no")
    assert canceled.status == WorkflowStatus.CANCELED
    assert "undo charge" not in log
    with pytest.raises(WorkflowStateError):
        engine.cancel_workflow_sync(started.id, "again", compensate=True)


def test_compensation__a_failing_compensation_keeps_both_errors_and_can_be_retried(
    engine,
) -> None:
    log: list[str] = []
    failed = engine.start_workflow_sync(order(log, fail_undo=1))

    assert failed.status == WorkflowStatus.FAILED
    assert failed.error == "ship is down; compensating 'charge' failed: cannot undo charge"
    record = failed.context.metadata["compensation"]
    assert record["status"] == "failed"
    assert record["errors"] == [{"step": "charge", "error": "cannot undo charge"}]
    assert compensations(failed.id) == [("reserve", "succeeded", 1), ("charge", "failed", 1)]
    with pytest.raises(WorkflowStateError, match="compensation"):
        engine.retry_sync(failed.id, "charge")

    retried = engine.retry_sync(failed.id)

    assert retried.status == WorkflowStatus.FAILED
    assert retried.error == "ship is down"
    assert retried.context.metadata["compensation"]["status"] == "completed"
    assert log.count("undo reserve") == 1
    assert log.count("undo charge") == 2
    assert log.count("do ship") == 1
    assert compensations(failed.id)[-1] == ("charge", "succeeded", 1)


def test_compensation__its_retry_policy_tries_it_again(engine) -> None:
    log: list[str] = []
    policy = RetryPolicy(max_attempts=3, initial_interval=NO_WAIT, jitter=0)
    failed = engine.start_workflow_sync(order(log, fail_undo=2, retry_undo=policy))
    assert failed.status == WorkflowStatus.FAILED
    assert failed.context.metadata["compensation"]["status"] == "completed"
    assert [c[1:] for c in compensations(failed.id) if c[0] == "charge"] == [
        ("failed", 1),
        ("failed", 2),
        ("succeeded", 3),
    ]


class AsyncUndo(BaseMachineStep):
    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__(name=name)
        self.log = log

    async def execute(self, context: WorkflowContext) -> None:
        self.log.append(f"do {self.name}")

    async def compensate(self, context: WorkflowContext) -> None:
        self.log.append(f"undo {self.name}")


class Refund(BaseMachineStep):
    """A compensation given as a step class (``compensate=Refund``)."""

    name = "refund"
    calls: list[str] = []

    async def execute(self, context: WorkflowContext) -> None:
        type(self).calls.append(context.get("pay_id"))


class Pay(BaseMachineStep):
    compensate = Refund

    def execute(self, context: WorkflowContext) -> None:
        context.set("pay_id", "p-7")


def test_compensation__async_compensate_and_a_step_class(engine) -> None:
    log: list[str] = []
    Refund.calls = []
    steps = [Pay(name="pay"), AsyncUndo("book", log), Undoable("ship", log, fail=True)]
    failed = engine.start_workflow_sync(
        workflow(steps, [Edge("pay", "book"), Edge("book", "ship")])
    )
    assert failed.status == WorkflowStatus.FAILED
    assert log == ["do book", "do ship", "undo book"]
    assert Refund.calls == ["p-7"]
    assert compensations(failed.id) == [("book", "succeeded", 1), ("pay", "succeeded", 1)]


def test_compensation__parallel_branches_are_undone_branch_by_branch(engine) -> None:
    log: list[str] = []
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
    failed = engine.start_workflow_sync(workflow(steps, edges))

    done = [entry for entry in log if entry.startswith("do ")]
    assert done[:3] == ["do start", "do a1", "do b1"]  # the branches interleave
    assert failed.status == WorkflowStatus.FAILED
    # ...but are undone one branch after the other: a2 completed last, so branch a first.
    assert [entry for entry in log if entry.startswith("undo ")] == [
        "undo a2",
        "undo a1",
        "undo b1",
        "undo start",
    ]
    assert [c[0] for c in compensations(failed.id)] == ["a2", "a1", "b1", "start"]


@pytest.mark.django_db(transaction=True)
def test_compensation__a_worker_thread_runs_the_compensations(registry) -> None:
    from django.test import override_settings

    from workflows_app.engine.persistent import PersistentExecutionEngine
    from workflows_app.engine.worker import Worker

    log: list[str] = []
    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
        engine = PersistentExecutionEngine(registry)
        started = engine.start_workflow_sync(order(log))
        assert started.status == WorkflowStatus.RUNNING and log == []
        worker = Worker(PersistentExecutionEngine(registry), burst=True, poll_interval=0.01)
        thread = threading.Thread(target=worker._thread_loop)
        thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert log == ["do charge", "do notify", "do reserve", "do ship", "undo reserve", "undo charge"]
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.lease_owner) == ("failed", None)
    assert row.metadata["compensation"]["status"] == "completed"
    assert compensations(started.id) == [("reserve", "succeeded", 1), ("charge", "succeeded", 1)]


@pytest.mark.django_db(transaction=True)
def test_compensation__cancel_in_worker_mode_leaves_the_compensations_to_a_worker(
    registry,
) -> None:
    from django.test import override_settings

    from workflows_app.engine.persistent import PersistentExecutionEngine
    from workflows_app.engine.worker import Worker

    log: list[str] = []
    steps = [Undoable("charge", log), human("approve")]
    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
        engine = PersistentExecutionEngine(registry)
        started = engine.start_workflow_sync(workflow(steps, [Edge("charge", "approve")]))
        Worker(engine, burst=True).run()
        canceled = engine.cancel_workflow_sync(started.id, "gone", compensate=True)
        assert canceled.status == WorkflowStatus.RUNNING  # compensating, by a worker
        assert canceled.context.metadata["compensation"]["status"] == "running"
        assert "undo charge" not in log
        assert Worker(engine, burst=True).run() == 1
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.lease_owner, row.error) == ("canceled", None, "Canceled: gone")
    assert log.count("undo charge") == 1


class Died(BaseException):
    """Stands for the process dying: no step code catches it, and no drive either."""


@pytest.mark.django_db(transaction=True)
def test_compensation__a_drive_that_dies_leaves_the_committed_ones_done(registry) -> None:
    """With a commit after each step, a drive that dies while undoing 'charge' has committed
    the undoing of 'reserve': once its lease lapses, a worker runs only 'charge' again."""
    from django.test import override_settings
    from django.utils import timezone

    from workflows_app.engine.persistent import PersistentExecutionEngine
    from workflows_app.engine.worker import Worker

    log: list[str] = []
    wf = order(log)
    charge = wf.get_definition().steps["charge"]
    dies = [True]

    def compensate(context: WorkflowContext) -> None:
        log.append("undo charge")
        if dies.pop() if dies else False:
            raise Died

    charge.compensate = compensate
    with override_settings(WORKFLOWS={"CHECKPOINT_INTERVAL": 0}):
        engine = PersistentExecutionEngine(registry)
        with pytest.raises(Died):
            engine.start_workflow_sync(wf)
        [row] = WorkflowInstanceModel.objects.all()
        assert (row.status, row.lease_owner is not None) == ("running", True)
        assert compensations(row.pk) == [("reserve", "succeeded", 1)]
        WorkflowInstanceModel.objects.filter(pk=row.pk).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1)
        )
        assert Worker(PersistentExecutionEngine(registry), burst=True).run() == 1
    row.refresh_from_db()
    assert (row.status, row.lease_owner) == ("failed", None)
    assert row.metadata["compensation"]["status"] == "completed"
    assert log.count("undo reserve") == 1  # committed before the drive died
    assert log.count("undo charge") == 2  # not committed: run again
    assert compensations(row.pk) == [("reserve", "succeeded", 1), ("charge", "succeeded", 1)]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_compensation__two_retries_at_once_run_the_failed_compensation_once(registry) -> None:
    """Two operators retry a failed compensation at the same moment (two threads, each
    with its own connection and engine): one retry wins, the other is refused, and the
    compensation runs once more."""
    for round_ in range(3):
        _race_two_retries(registry, f"order_race_{round_}")


def _race_two_retries(registry: Any, name: str) -> None:
    from django.db import connection

    from workflows_app.engine.persistent import PersistentExecutionEngine

    log: list[str] = []
    failed = PersistentExecutionEngine(registry).start_workflow_sync(
        order(log, fail_undo=1, name=name)
    )
    assert failed.context.metadata["compensation"]["status"] == "failed"
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def retry(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = PersistentExecutionEngine(registry).retry_sync(failed.id)
        except BaseException as exc:  # reported to the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=retry, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], WorkflowStateError), results
    row = WorkflowInstanceModel.objects.get(pk=failed.id)
    assert (row.status, row.lease_owner) == ("failed", None)
    assert row.metadata["compensation"]["status"] == "completed"
    assert log.count("undo charge") == 2  # the failed run and one retry
    assert compensations(failed.id).count(("charge", "succeeded", 1)) == 1


def test_compensation__the_cancel_command_compensates_when_asked(engine, registry) -> None:
    from io import StringIO

    from django.core.management import call_command

    from workflows_app.core.registry import default_registry

    log: list[str] = []
    wf = workflow(
        [Undoable("charge", log), human("approve")],
        [Edge("charge", "approve")],
        name="compensation_cancel_command",
    )
    default_registry.register(wf)
    started = engine.start_workflow_sync(wf)
    out = StringIO()
    call_command("workflows_cancel", str(started.id), "--compensate", "--reason", "x", stdout=out)
    assert "Canceled 1 instance(s)" in out.getvalue()
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.metadata["compensation"]["status"]) == ("canceled", "completed")
    assert log.count("undo charge") == 1
