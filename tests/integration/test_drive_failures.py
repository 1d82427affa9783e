"""A drive that fails outside step code, and an instance whose drives keep dying.

An exception anywhere in a drive (not a step's own code, which makes a failed step) fails
the instance with its error and releases the lease; an instance taken over
``MAX_DRIVE_ATTEMPTS`` times without a commit in between fails instead of running again.
Both are tried in inline mode (the call that starts the instance drives it) and in worker
mode (a worker in this process drives it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.integration.helpers import Step, human, marker, tasks, workflow
from workflows_app import Edge
from workflows_app.core.types import TaskStatus, WorkflowStatus
from workflows_app.engine import semantics
from workflows_app.engine.worker import Worker
from workflows_app.exceptions import WorkflowValidationError
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db

MODES = ["inline", "worker"]


def _row(instance_id: Any) -> WorkflowInstanceModel:
    return WorkflowInstanceModel.objects.get(pk=instance_id)


def _run(engine: Any, mode: str, wf: type, data: dict[str, Any] | None = None) -> Any:
    """Start ``wf`` with ``data``: inline, the start drives it; otherwise a burst worker
    (in this process) drives whatever is due. Return the instance id."""
    instance = engine.start_workflow_sync(wf, data)
    if mode == "worker":
        Worker(engine, burst=True, listen=False).run()
    return instance.id


def _assert_failed_and_free(instance_id: Any, error: str) -> WorkflowInstanceModel:
    row = _row(instance_id)
    assert row.status == WorkflowStatus.FAILED
    assert error in row.error
    assert (row.lease_owner, row.lease_expires_at, row.wake_at) == (None, None, None)
    assert row.failed_drives == 0
    return row


def _parallel(body: Any) -> type:
    """S fans out to a human step H (its task waits) and a machine step A (``body``)."""
    return workflow(
        [marker("S"), human("H", title="Check"), Step("A", body)],
        [Edge("S", "H"), Edge("S", "A")],
    )


@pytest.mark.parametrize("mode", MODES)
def test_drive_failure__an_error_outside_step_code_fails_the_instance(
    engine, bus, committed, monkeypatch, mode
) -> None:
    # The engine's own code raises (here: keeping a step's result) for one instance only.
    keep_storable = semantics.keep_storable

    def broken(step_name: str, outcome: Any, context: Any, *rest: Any) -> Any:
        if step_name == "A" and context.data.get("explode"):
            raise RuntimeError("the engine broke")
        return keep_storable(step_name, outcome, context, *rest)

    monkeypatch.setattr(semantics, "keep_storable", broken)
    wf = _parallel(lambda ctx: ctx.set("a_done", True))

    with override_settings(WORKFLOWS={"EXECUTION_MODE": mode}), committed():
        doomed = _run(engine, mode, wf, {"explode": True})
        healthy = _run(engine, mode, wf, {})

    row = _assert_failed_and_free(
        doomed, "Running the instance failed outside step code: RuntimeError: the engine broke"
    )
    assert row.current_step == "A"
    assert ("A", semantics.FAILED) in [(t["step"], t["state"]) for t in row.tokens]
    # As for any failure: its task waits on hold, and the failure is announced.
    assert [t.status for t in tasks(doomed)] == [TaskStatus.ON_HOLD]
    assert [e["instance_id"] for e in bus.of("workflow.failed")] == [doomed]
    # The other instance is untouched by it: it runs on and waits for its task.
    assert _row(healthy).status == WorkflowStatus.WAITING
    assert [t.status for t in tasks(healthy)] == [TaskStatus.PENDING]


@pytest.mark.parametrize("mode", MODES)
def test_drive_failure__a_context_too_deep_to_copy_never_reaches_a_drive(engine, mode) -> None:
    """600 levels made copy.deepcopy raise RecursionError outside the step's error handling,
    and the instance stayed running under its lease; now the start refuses it
    (JSON_MAX_DEPTH) before anything is written."""
    deep: dict[str, Any] = {}
    for _ in range(600):
        deep = {"d": deep}
    a = marker("A")

    with override_settings(WORKFLOWS={"EXECUTION_MODE": mode}):
        with pytest.raises(WorkflowValidationError, match="nested deeper than"):
            _run(engine, mode, workflow([a], []), {"deep": deep})

    assert not WorkflowInstanceModel.objects.exists()
    assert a.calls == 0
    assert Worker(engine, burst=True, listen=False).run() == 0


def test_drive_failure__an_instance_that_cannot_be_claimed_fails(engine, monkeypatch) -> None:
    claim_next = semantics.claim_next

    def broken(instance: Any, definition: Any, events: Any) -> Any:
        if instance.context.data.get("explode"):
            raise ValueError("cannot claim")
        return claim_next(instance, definition, events)

    a = marker("A")
    wf = workflow([a], [])
    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
        doomed = engine.start_workflow_sync(wf, {"explode": True}).id
        healthy = engine.start_workflow_sync(wf).id
        monkeypatch.setattr(semantics, "claim_next", broken)
        Worker(engine, burst=True, listen=False).run()

    _assert_failed_and_free(
        doomed, "Running the instance failed outside step code: ValueError: cannot claim"
    )
    assert _row(healthy).status == WorkflowStatus.COMPLETED
    assert a.calls == 1


def test_drive_failure__a_failed_instance_can_be_retried(engine, monkeypatch) -> None:
    keep_storable = semantics.keep_storable
    broken = {"yes": True}

    def flaky(step_name: str, outcome: Any, context: Any, *rest: Any) -> Any:
        if broken["yes"]:
            raise RuntimeError("the engine broke")
        return keep_storable(step_name, outcome, context, *rest)

    monkeypatch.setattr(semantics, "keep_storable", flaky)
    instance = engine.start_workflow_sync(workflow([marker("A"), marker("B")], [Edge("A", "B")]))
    assert instance.status == WorkflowStatus.FAILED

    broken["yes"] = False
    assert engine.retry_sync(instance.id).status == WorkflowStatus.COMPLETED


class Died(BaseException):
    """What ends a drive as the death of its process would: nothing in the engine catches
    it, and nothing is committed after it."""


class Dies:
    """A step body that kills its drive on its first ``times`` calls."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.calls = 0

    def __call__(self, ctx: Any) -> None:
        self.calls += 1
        if self.calls <= self.times:
            raise Died
        ctx.set("survived", True)


def _die(run: Any) -> None:
    """Run a drive that dies, then let its lease lapse."""
    with pytest.raises(Died):
        run()
    WorkflowInstanceModel.objects.exclude(lease_owner=None).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def _take_over(engine: Any) -> bool:
    return Worker(engine, listen=False).run_once()


@pytest.mark.parametrize("mode", MODES)
def test_drive_attempts__an_instance_whose_drives_keep_dying_fails(
    engine, bus, committed, mode
) -> None:
    body = Dies(times=99)
    wf = _parallel(body)
    with override_settings(
        WORKFLOWS={"EXECUTION_MODE": mode, "MAX_DRIVE_ATTEMPTS": 3, "CHECKPOINT_INTERVAL": 0}
    ):
        if mode == "inline":
            _die(lambda: engine.start_workflow_sync(wf))
        else:
            engine.start_workflow_sync(wf)
            _die(lambda: _take_over(engine))
        [row] = WorkflowInstanceModel.objects.all()
        assert row.failed_drives == 0
        _die(lambda: _take_over(engine))
        assert _row(row.pk).failed_drives == 1
        _die(lambda: _take_over(engine))
        assert _row(row.pk).failed_drives == 2
        assert body.calls == 3

        with committed():
            assert _take_over(engine) is True  # the third takeover fails it instead

    assert body.calls == 3
    row = _assert_failed_and_free(
        row.pk, "The drive of this instance failed 3 times in a row while running 'A'"
    )
    assert "WORKFLOWS['MAX_DRIVE_ATTEMPTS'] = 3" in row.error
    assert ("A", semantics.FAILED) in [(t["step"], t["state"]) for t in row.tokens]
    assert [t.status for t in tasks(row.pk)] == [TaskStatus.ON_HOLD]
    assert [e["instance_id"] for e in bus.of("workflow.failed")] == [row.pk]

    # Retried once the cause is fixed, it gets its attempts back.
    body.times = 0
    with override_settings(WORKFLOWS={"EXECUTION_MODE": "inline"}):
        engine.retry_sync(row.pk)
    row = _row(row.pk)
    assert (row.status, row.failed_drives) == (WorkflowStatus.WAITING, 0)
    assert row.context_data["survived"] is True


def test_drive_attempts__a_commit_between_two_deaths_starts_the_count_again(engine) -> None:
    # A dies once, then B twice: never three drives in a row without a commit.
    a, b = Dies(times=1), Dies(times=2)
    wf = workflow([Step("A", a), Step("B", b)], [Edge("A", "B")])
    with override_settings(WORKFLOWS={"MAX_DRIVE_ATTEMPTS": 3, "CHECKPOINT_INTERVAL": 0}):
        _die(lambda: engine.start_workflow_sync(wf))
        [row] = WorkflowInstanceModel.objects.all()
        _die(lambda: _take_over(engine))  # A is committed (a new count), then B dies
        assert _row(row.pk).failed_drives == 0
        _die(lambda: _take_over(engine))
        assert _row(row.pk).failed_drives == 1
        assert _take_over(engine) is True

    row = _row(row.pk)
    assert (row.status, row.failed_drives, row.lease_owner) == (
        WorkflowStatus.COMPLETED,
        0,
        None,
    )
    assert (a.calls, b.calls) == (2, 3)


def test_drive_attempts__one_attempt_means_no_takeover(engine) -> None:
    body = Dies(times=99)
    with override_settings(WORKFLOWS={"MAX_DRIVE_ATTEMPTS": 1}):
        _die(lambda: engine.start_workflow_sync(workflow([Step("A", body)], [])))
        assert _take_over(engine) is True
    [row] = WorkflowInstanceModel.objects.all()
    _assert_failed_and_free(row.pk, "The drive of this instance failed once while running 'A'")
    assert body.calls == 1
