"""Retry policies, step timeouts and timers: time passes only when the test says so."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest

from tests.engine_contract.kit import Edge, Flaky, Step, marker, retrying, workflow
from workflows_app import BaseMachineStep, RetryPolicy, TimerStep


def test_a_retried_step_backs_off_then_succeeds(harness, bus) -> None:
    body = Flaky(failures=2, error=ConnectionError)
    after = marker("B")
    call = retrying("call", body, max_attempts=3, initial_interval=timedelta(minutes=1))
    wf = workflow([call, after], [Edge("call", "B")])
    instance_id = harness.start(wf)

    first = harness.get(instance_id)
    assert (first.status, first.current_step, body.calls) == ("running", "call", 1)
    assert first.trail == [("call", "failed")]
    harness.advance(50)  # the first back-off is a minute
    assert body.calls == 1
    harness.advance(10)
    second = harness.get(instance_id)
    assert (second.status, body.calls) == ("running", 2)
    harness.advance(110)  # the back-off doubles
    assert body.calls == 2
    harness.advance(10)

    done = harness.get(instance_id)
    assert (done.status, done.data["done"], after.calls) == ("completed", 3, 1)
    assert [(e.step, e.status, e.attempt) for e in done.history] == [
        ("call", "failed", 1),
        ("call", "failed", 2),
        ("call", "succeeded", 3),
        ("B", "succeeded", 1),
    ]
    assert [e.error for e in done.entries("call")] == [
        "attempt 1 failed",
        "attempt 2 failed",
        None,
    ]
    attempts = done.entries("call")
    assert attempts[1].started_at - attempts[0].completed_at >= timedelta(minutes=1)
    assert attempts[2].started_at - attempts[1].completed_at >= timedelta(minutes=2)
    assert [kw["attempt"] for kw in bus.of("step.retry_scheduled")] == [2, 3]
    assert bus.names("workflow.") == ["workflow.started", "workflow.completed"]


def test_a_retried_step_fails_the_instance_once_its_attempts_run_out(harness) -> None:
    body = Flaky(failures=5, error=ConnectionError)
    wf = workflow([retrying("call", body, max_attempts=2)], [])
    instance_id = harness.start(wf)
    harness.advance(10)
    instance = harness.get(instance_id)
    assert (instance.status, instance.error, body.calls) == ("failed", "attempt 2 failed", 2)
    assert [(e.status, e.attempt) for e in instance.history] == [("failed", 1), ("failed", 2)]
    harness.advance(3600)  # nothing more is scheduled
    assert body.calls == 2


def test_a_non_retryable_error_fails_at_once(harness) -> None:
    body = Flaky(failures=5, error=ValueError)
    wf = workflow([retrying("call", body, max_attempts=5, non_retryable=(ValueError,))], [])
    instance = harness.get(harness.start(wf))
    assert (instance.status, instance.error, body.calls) == ("failed", "attempt 1 failed", 1)


def test_a_manual_retry_starts_counting_attempts_again(harness) -> None:
    body = Flaky(failures=2, error=ConnectionError)
    wf = workflow([retrying("call", body, max_attempts=2)], [])
    instance_id = harness.start(wf)
    harness.advance(10)
    assert harness.get(instance_id).status == "failed"
    harness.retry(instance_id)
    instance = harness.get(instance_id)
    assert instance.status == "completed"
    assert [(e.status, e.attempt) for e in instance.history] == [
        ("failed", 1),
        ("failed", 2),
        ("succeeded", 1),
    ]


def test_a_sync_step_over_its_timeout_fails_and_is_retried(harness) -> None:
    release = threading.Event()
    calls = {"n": 0}

    class Slow(BaseMachineStep):
        name = "slow"
        timeout = timedelta(milliseconds=200)  # ample for the second attempt on a busy machine
        retry_policy = RetryPolicy(max_attempts=2, initial_interval=timedelta(seconds=10), jitter=0)

        def execute(self, context):
            calls["n"] += 1
            if calls["n"] == 1:
                release.wait(5)  # overruns its timeout, then finishes in the background
                context.set("late", True)
            context.set("done", calls["n"])

    try:
        instance_id = harness.start(workflow([Slow()], []))
    finally:
        release.set()
        for thread in threading.enumerate():
            if thread.name == "step-slow":
                thread.join(5)
    first = harness.get(instance_id)
    assert first.status == "running"
    assert first.trail == [("slow", "failed")]
    assert first.history[0].error == "Step 'slow' timed out after 0.2 s"
    harness.advance(10)
    done = harness.get(instance_id)
    # The overrun attempt never wrote into the instance ("late").
    assert (done.status, done.data) == ("completed", {"done": 2})


def test_an_async_step_over_its_timeout_is_cancelled(harness) -> None:
    progress = []

    class Hang(BaseMachineStep):
        name = "hang"
        timeout = timedelta(milliseconds=20)

        async def execute(self, context):
            await asyncio.sleep(10)
            progress.append("woke")

    instance = harness.get(harness.start(workflow([Hang()], [])))
    assert (instance.status, instance.error) == ("failed", "Step 'hang' timed out after 0.02 s")
    assert progress == []


def test_a_timer_waits_until_it_is_due(harness, bus) -> None:
    after = marker("B")
    wf = workflow(
        [marker("A"), TimerStep("wait", timedelta(hours=1)), after],
        [Edge("A", "wait"), Edge("wait", "B")],
    )
    instance_id = harness.start(wf)
    sleeping = harness.get(instance_id)
    assert (sleeping.status, sleeping.current_step) == ("running", "wait")
    assert sleeping.names == ["A"]
    [started] = bus.of("timer.started")
    assert started["step_name"] == "wait"

    harness.advance(59 * 60)
    assert (harness.get(instance_id).status, after.calls) == ("running", 0)
    harness.advance(60)
    done = harness.get(instance_id)
    assert (done.status, done.names, after.calls) == ("completed", ["A", "wait", "B"], 1)
    fired = done.history[1]
    assert (fired.status, fired.result, fired.output) == ("succeeded", None, None)
    assert fired.completed_at - fired.started_at >= timedelta(hours=1)
    assert fired.completed_at >= started["due_at"]


def test_a_timer_with_a_duration_computed_from_the_context(harness) -> None:
    timer = TimerStep(name="wait", duration=lambda ctx: timedelta(minutes=ctx.get("minutes")))
    instance_id = harness.start(workflow([timer, marker("B")], [Edge("wait", "B")]), {"minutes": 5})
    harness.advance(4 * 60)
    assert harness.get(instance_id).status == "running"
    harness.advance(60)
    assert harness.get(instance_id).trail == [("wait", "succeeded"), ("B", "succeeded")]


def test_a_timer_until_a_moment_that_passed_long_ago_fires_at_once(harness, clock) -> None:
    when = clock() + timedelta(days=2)
    timer = TimerStep("until", until=lambda ctx: when)
    instance_id = harness.start(workflow([timer, marker("B")], [Edge("until", "B")]))
    assert harness.get(instance_id).current_step == "until"
    harness.advance(30 * 24 * 3600)  # a month went by
    assert harness.get(instance_id).status == "completed"


def test_a_timer_whose_due_date_fails_fails_the_instance(harness) -> None:
    timer = TimerStep("bad", until=lambda ctx: 1 / 0)
    instance = harness.get(harness.start(workflow([timer], [])))
    assert instance.status == "failed"
    assert "Timer 'bad' failed" in instance.error


def test_a_timer_on_one_branch_holds_only_its_join(harness) -> None:
    join = Step("join", lambda ctx: ctx.set("fast_first", ctx.get("fast_done")))
    wf = workflow(
        [marker("start"), marker("fast"), TimerStep("wait", timedelta(minutes=10)), join],
        [
            Edge("start", "fast"),
            Edge("start", "wait"),
            Edge("fast", "join"),
            Edge("wait", "join"),
        ],
    )
    instance_id = harness.start(wf)
    sleeping = harness.get(instance_id)
    assert sleeping.status == "running"
    assert sorted(sleeping.names) == ["fast", "start"]
    assert join.calls == 0
    harness.advance(600)
    done = harness.get(instance_id)
    assert done.status == "completed"
    assert done.names[-2:] == ["wait", "join"]
    assert (join.calls, done.data["fast_first"]) == (1, True)


def test_cancel_while_a_timer_sleeps(harness) -> None:
    after = marker("B")
    wf = workflow([TimerStep("wait", timedelta(hours=1)), after], [Edge("wait", "B")])
    instance_id = harness.start(wf)
    harness.cancel(instance_id, "no need")
    harness.advance(2 * 3600)
    instance = harness.get(instance_id)
    assert (instance.status, instance.error) == ("canceled", "Canceled: no need")
    assert after.calls == 0
    assert instance.names == []


@pytest.mark.parametrize("seconds", [0, 5])
def test_time_passing_with_nothing_due_changes_nothing(harness, seconds) -> None:
    instance_id = harness.start(workflow([marker("A")], []))
    before = harness.get(instance_id)
    harness.advance(seconds)
    assert harness.get(instance_id) == before
