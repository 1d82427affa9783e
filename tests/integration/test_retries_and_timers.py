"""Retries with back-off and durable timers in the database: due times, branch states and
workers that come and go, on a controllable clock.

How retries, timeouts and timers behave is in tests/engine_contract.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.helpers import Step, executions, marker, workflow
from workflows_app import Edge, TimerStep
from workflows_app.core import clock as clock_module
from workflows_app.core.retry import RetryPolicy
from workflows_app.engine.worker import Worker
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db

T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock(T0)
    monkeypatch.setattr(clock_module, "utcnow", clock)
    return clock


def _row(instance_id):
    return WorkflowInstanceModel.objects.get(pk=instance_id)


def flaky(failures: int, error: type[Exception] = ConnectionError):
    calls = {"n": 0}

    def body(ctx):
        calls["n"] += 1
        if calls["n"] <= failures:
            raise error(f"attempt {calls['n']} failed")
        ctx.set("done", calls["n"])

    return body, calls


def retrying(name: str, body, **policy) -> Step:
    step = Step(name, body)
    step.retry_policy = RetryPolicy(jitter=0, **policy)
    return step


def test_retry__backs_off_and_succeeds_when_the_worker_fires(engine, clock) -> None:
    body, calls = flaky(2)
    call = retrying("call", body, max_attempts=3, initial_interval=timedelta(seconds=10))
    instance = engine.start_workflow_sync(workflow([call, marker("B")], [Edge("call", "B")]))

    row = _row(instance.id)
    assert (row.status, calls["n"]) == ("running", 1)
    assert row.wake_at == T0 + timedelta(seconds=10)
    [token] = row.tokens
    assert (token["state"], token["attempt"]) == ("scheduled", 2)

    assert Worker(engine, burst=True).run() == 0  # not due yet
    clock.advance(seconds=10)
    assert Worker(engine, burst=True).run() == 1
    row = _row(instance.id)
    assert (row.status, calls["n"]) == ("running", 2)
    assert row.wake_at == T0 + timedelta(seconds=10 + 20)  # back-off doubles

    clock.advance(seconds=20)
    assert Worker(engine, burst=True).run() == 1
    row = _row(instance.id)
    assert (row.status, calls["n"], row.wake_at, row.tokens) == ("completed", 3, None, [])
    assert [r.attempt for r in executions(instance.id, "call")] == [1, 2, 3]


def test_retry__gives_up_after_max_attempts(engine, clock) -> None:
    body, calls = flaky(5)
    call = retrying("call", body, max_attempts=2, initial_interval=timedelta(seconds=1))
    instance = engine.start_workflow_sync(workflow([call], []))
    clock.advance(seconds=1)
    Worker(engine, burst=True).run()
    row = _row(instance.id)
    assert (row.status, calls["n"], row.wake_at) == ("failed", 2, None)
    assert [(t["step"], t["state"], t["attempt"]) for t in row.tokens] == [("call", "failed", 2)]


def test_timer__fires_when_due_across_worker_restarts(engine, clock) -> None:
    after = marker("B")
    timer = TimerStep("wait", timedelta(hours=1))
    instance = engine.start_workflow_sync(
        workflow([marker("A"), timer, after], [Edge("A", "wait"), Edge("wait", "B")])
    )
    row = _row(instance.id)
    assert (row.status, row.current_step, row.lease_owner) == ("running", "wait", None)
    assert row.wake_at == T0 + timedelta(hours=1)
    assert [(t["step"], t["state"]) for t in row.tokens] == [("wait", "sleeping")]

    assert Worker(engine, burst=True).run() == 0
    clock.advance(minutes=59)
    assert Worker(engine, burst=True).run() == 0  # a new worker: nothing lost, nothing due
    clock.advance(minutes=1)
    assert Worker(engine, burst=True).run() == 1
    row = _row(instance.id)
    assert (row.status, after.calls) == ("completed", 1)
    [fired] = executions(instance.id, "wait")
    assert (fired.status, fired.step_type, fired.started_at, fired.completed_at) == (
        "succeeded",
        "timer",
        T0,
        T0 + timedelta(hours=1),
    )


def test_timer__wait_until_and_an_overdue_timer_fires_at_once(engine, clock) -> None:
    when = T0 + timedelta(days=2)
    timer = TimerStep("until", until=lambda ctx: when)
    instance = engine.start_workflow_sync(workflow([timer, marker("B")], [Edge("until", "B")]))
    row = _row(instance.id)
    assert row.wake_at == when
    assert [(t["step"], t["state"]) for t in row.tokens] == [("until", "sleeping")]
    clock.advance(days=30)  # no worker ran for a month
    assert Worker(engine, burst=True).run() == 1
    assert _row(instance.id).status == "completed"


def test_retry_policy__rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=2)


def test_retry_policy__delays() -> None:
    policy = RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=3,
        max_interval=timedelta(seconds=5),
        jitter=0,
    )
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [1, 3, 5, 5]
    jittery = RetryPolicy(initial_interval=timedelta(seconds=10), jitter=0.1)
    assert all(9 <= jittery.delay(1).total_seconds() <= 11 for _ in range(50))
