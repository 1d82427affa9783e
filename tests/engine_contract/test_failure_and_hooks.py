"""Hooks, failures and the event bus (scenarios 7 and 21)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from tests.engine_contract.kit import Edge, Step, marker, workflow
from workflows_app import BaseMachineStep


def boom(ctx):
    raise RuntimeError("boom")


def remember_failure(ctx, error):
    ctx.set("failed_hook", str(error))
    ctx.set("failed_type", type(error).__name__)


def test_a_failing_step_fails_the_instance__scenario_7(harness, bus) -> None:
    c = marker("C")
    wf = workflow(
        [marker("A"), Step("F", boom, on_fail=remember_failure), c],
        [Edge("A", "F"), Edge("F", "C")],
        terminal={"C"},
    )
    instance = harness.get(harness.start(wf, {"x": 1}))
    assert (instance.status, instance.error, instance.current_step) == ("failed", "boom", "F")
    assert instance.completed_at is not None
    assert instance.trail == [("A", "succeeded"), ("F", "failed")]
    failed = instance.history[1]
    assert (failed.error, failed.output) == ("boom", None)
    assert failed.completed_at is not None
    # on_failure ran and what it wrote is kept.
    assert instance.data == {
        "x": 1,
        "a_done": True,
        "failed_hook": "boom",
        "failed_type": "RuntimeError",
    }
    assert c.calls == 0
    assert [(name, kw) for name, kw in bus.events if name.startswith("workflow.")] == [
        ("workflow.started", {"instance_id": instance.id}),
        ("workflow.failed", {"instance_id": instance.id, "status": "failed"}),
    ]
    assert [(kw["instance_id"], kw["step_name"], kw["error"]) for kw in bus.of("step.failed")] == [
        (instance.id, "F", "boom")
    ]
    assert [kw["step_name"] for kw in bus.of("step.completed")] == ["A"]


def test_on_failure_cannot_rescue_the_step(harness) -> None:
    def swallow(ctx, error):
        ctx.set("swallowed", True)

    wf = workflow([Step("F", boom, on_fail=swallow), marker("C")], [Edge("F", "C")])
    instance = harness.get(harness.start(wf))
    assert instance.status == "failed"
    assert instance.data == {"swallowed": True}


def test_on_success_sees_the_result_and_its_writes_are_kept(harness) -> None:
    def hook(ctx, result):
        ctx.set("hook_saw", result)

    wf = workflow([Step("A", lambda ctx: 3, on_ok=hook), marker("B")], [Edge("A", "B")])
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert instance.data == {"hook_saw": 3, "b_done": True}


def test_on_success_raising_fails_the_step(harness) -> None:
    class BadHook(BaseMachineStep):
        async def execute(self, context):
            return "value"

        async def on_success(self, context, result):
            raise ValueError(f"hook rejected {result}")

        async def on_failure(self, context, error):
            context.set("failure_hook_saw", str(error))

    after = marker("next")
    wf = workflow([BadHook(name="hooked"), after], [Edge("hooked", "next")])
    instance = harness.get(harness.start(wf))
    assert (instance.status, instance.error) == ("failed", "hook rejected value")
    assert instance.trail == [("hooked", "failed")]
    assert instance.data == {"failure_hook_saw": "hook rejected value"}
    assert after.calls == 0


def test_a_guard_that_raises_fails_the_step(harness) -> None:
    def guard(ctx):
        raise PermissionError("guard broke")

    step = Step("G", lambda ctx: ctx.set("ran", True), guard=guard)
    instance = harness.get(harness.start(workflow([step], [])))
    assert (instance.status, instance.error) == ("failed", "guard broke")
    assert instance.trail == [("G", "failed")]
    assert step.calls == 0


def test_a_sync_step_raising(harness) -> None:
    class SyncBoom(BaseMachineStep):
        name = "sync_boom"

        def execute(self, context):
            raise KeyError("missing-thing")

    instance = harness.get(harness.start(workflow([SyncBoom()], [])))
    assert (instance.status, instance.error) == ("failed", str(KeyError("missing-thing")))


def test_an_exception_without_a_message_still_says_what_failed(harness) -> None:
    def raise_bare(ctx):
        raise KeyError

    instance = harness.get(harness.start(workflow([Step("F", raise_bare)], [])))
    assert instance.status == "failed"
    assert instance.error  # never empty: the exception's type name at least
    assert instance.history[0].error == instance.error


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda ctx: ctx.set("when", datetime.now(UTC)), id="context-write"),
        pytest.param(lambda ctx: {"when": datetime.now(UTC)}, id="result"),
    ],
)
def test_step_data_that_is_not_json_fails_the_step(harness, body) -> None:
    # docs/concepts/context.rst asks for JSON-serialisable data. A step that breaks the rule
    # fails (never leaves its instance running with a branch that nothing will run).
    after = marker("B")
    instance = harness.get(harness.start(workflow([Step("A", body), after], [Edge("A", "B")])))
    assert (instance.status, instance.current_step) == ("failed", "A")
    assert "JSON" in (instance.error or "")
    assert after.calls == 0


def test_an_event_bus_that_raises_is_logged_and_ignored(harness, caplog) -> None:
    class BrokenBus:
        events: list = []

        async def emit(self, event_type, **kwargs):
            raise ConnectionError("broker down")

    harness.use_event_bus(BrokenBus())
    with caplog.at_level(logging.ERROR):
        instance = harness.get(
            harness.start(workflow([marker("A"), marker("B")], [Edge("A", "B")]))
        )
    assert (instance.status, instance.names) == ("completed", ["A", "B"])
    assert "broker down" in caplog.text
