"""Routing: callable and string conditions, guards, gateways, loops, timers and webhooks
(scenarios 4 to 6)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows_app import BaseMachineStep, Edge, ExclusiveGateway, ParallelGateway, TimerStep
from workflows_app.core import WebhookStep


def eligibility_workflow(kit, approved_condition, rejected_condition):
    check = kit.step("check", lambda ctx: ctx.set("eligible", ctx.get("amount") < 1000))
    approved, rejected = kit.marker("approved"), kit.marker("rejected")
    wf = kit.workflow(
        [check, approved, rejected],
        [
            Edge("check", "approved", approved_condition),
            Edge("check", "rejected", rejected_condition),
        ],
        terminal={"approved", "rejected"},
    )
    return wf, approved, rejected


async def test_routing__callable_conditions_pick_one_branch__scenario_4(engine, kit) -> None:
    wf, approved, rejected = eligibility_workflow(
        kit, lambda ctx: ctx.get("eligible") is True, lambda ctx: ctx.get("eligible") is False
    )
    small = await engine.start_workflow(wf, {"amount": 500})
    assert small.status == "completed"
    assert kit.names(small) == ["check", "approved"]
    assert rejected.calls == 0

    big = await engine.start_workflow(wf, {"amount": 5000})
    assert big.status == "completed"
    assert kit.names(big) == ["check", "rejected"]
    assert approved.calls == 1


async def test_routing__string_conditions_pick_one_branch__scenario_5(engine, kit) -> None:
    review, auto = kit.marker("manager_review"), kit.marker("auto_approve")
    wf = kit.workflow(
        [kit.marker("submit"), review, auto],
        [
            Edge("submit", "manager_review", "context.get('amount', 0) >= 1000"),
            Edge("submit", "auto_approve", "context.get('amount', 0) < 1000"),
        ],
        terminal={"manager_review", "auto_approve"},
    )
    big = await engine.start_workflow(wf, {"amount": 1500})
    assert kit.names(big) == ["submit", "manager_review"]
    small = await engine.start_workflow(wf, {"amount": 10})
    assert kit.names(small) == ["submit", "auto_approve"]
    assert (review.calls, auto.calls) == (1, 1)


async def test_routing__string_conditions_with_bare_names(engine, kit) -> None:
    wf, approved, _ = eligibility_workflow(kit, "eligible", "not eligible")
    instance = await engine.start_workflow(wf, {"amount": 5000})
    assert kit.names(instance) == ["check", "rejected"]
    assert approved.calls == 0


async def test_routing__conditions_see_writes_of_the_step_that_just_ran(engine, kit) -> None:
    wf, _, _ = eligibility_workflow(kit, "eligible == True", "eligible == False")
    instance = await engine.start_workflow(wf, {"amount": 1})
    assert kit.names(instance) == ["check", "approved"]


async def test_routing__guard_false_skips_step__scenario_6(engine, bus, kit) -> None:
    guarded = kit.step("G", lambda ctx: ctx.set("g_ran", True), guard=lambda ctx: False)
    after = kit.marker("B")
    wf = kit.workflow([guarded, after], [Edge("G", "B")])
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert guarded.calls == 0
    assert after.calls == 1
    assert kit.names(instance) == ["G", "B"]
    skipped = instance.context.step_history[0]
    assert skipped.status == "skipped"
    assert skipped.result is None
    assert skipped.output_data is None
    assert "g_ran" not in instance.context.data
    assert {"instance_id": instance.id, "step_name": "G"}.items() <= bus.of("step.skipped")[
        0
    ].items()


async def test_routing__guard_true_runs_step(engine, kit) -> None:
    guarded = kit.step("G", lambda ctx: "ran", guard=lambda ctx: ctx.get("allowed", False))
    instance = await engine.start_workflow(kit.workflow([guarded], []), {"allowed": True})
    assert kit.statuses(instance) == ["succeeded"]
    assert instance.context.step_history[0].result == "ran"


async def test_routing__skipped_step_outgoing_edges_still_followed(engine, kit) -> None:
    guarded = kit.step("G", guard=lambda ctx: False)
    wf = kit.workflow(
        [kit.marker("A"), guarded, kit.marker("B"), kit.marker("C")],
        [Edge("A", "G"), Edge("G", "B", "x == 1"), Edge("G", "C", "x == 2")],
    )
    instance = await engine.start_workflow(wf, {"x": 2})
    assert kit.names(instance) == ["A", "G", "C"]


async def test_routing__exclusive_gateway_routes_only_to_returned_step(engine, kit) -> None:
    a, b = kit.marker("a"), kit.marker("b")
    gateway = ExclusiveGateway(name="gw", condition=lambda ctx: "b" if ctx.get("pick_b") else "a")
    wf = kit.workflow(
        [kit.marker("start"), gateway, a, b],
        [Edge("start", "gw"), Edge("gw", "a"), Edge("gw", "b")],
    )
    instance = await engine.start_workflow(wf, {"pick_b": True})
    assert instance.status == "completed"
    assert kit.names(instance) == ["start", "gw", "b"]
    assert instance.context.step_history[1].result == "b"
    assert a.calls == 0

    other = await engine.start_workflow(wf, {"pick_b": False})
    assert kit.names(other) == ["start", "gw", "a"]


async def test_routing__exclusive_gateway_list_fans_out(engine, kit) -> None:
    a, b, c = kit.marker("a"), kit.marker("b"), kit.marker("c")
    gateway = ExclusiveGateway(name="gw", condition=lambda ctx: ["a", "c"])
    wf = kit.workflow([gateway, a, b, c], [Edge("gw", "a"), Edge("gw", "b"), Edge("gw", "c")])
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert (a.calls, b.calls, c.calls) == (1, 0, 1)
    assert sorted(kit.names(instance)[1:]) == ["a", "c"]


async def test_routing__parallel_gateway_fans_out_to_branches_and_joins(engine, kit) -> None:
    x, y = kit.marker("x"), kit.marker("y")
    join = kit.step(
        "join",
        lambda ctx: ctx.set("joined_after", sorted(k for k in ctx.data if k.endswith("_done"))),
    )
    wf = kit.workflow(
        [ParallelGateway(name="fork", branches=["x", "y"]), x, y, join],
        [Edge("fork", "x"), Edge("fork", "y"), Edge("x", "join"), Edge("y", "join")],
        terminal={"join"},
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert (x.calls, y.calls, join.calls) == (1, 1, 1)
    assert instance.context.get("joined_after") == ["x_done", "y_done"]
    assert kit.names(instance)[0] == "fork"
    assert kit.names(instance)[-1] == "join"


async def test_routing__revision_loop_runs_until_condition_holds(engine, kit) -> None:
    def review(ctx):
        ctx.set("rounds", ctx.get("rounds", 0) + 1)
        if ctx.get("rounds") > 10:
            raise RuntimeError("runaway loop: the exit condition was never taken")
        ctx.set("approved", ctx.get("rounds") >= 3)

    wf = kit.workflow(
        [
            kit.marker("draft"),
            kit.step("review", review),
            kit.marker("revise"),
            kit.marker("publish"),
        ],
        [
            Edge("draft", "review"),
            Edge("review", "revise", "not approved"),
            Edge("revise", "review"),
            Edge("review", "publish", "approved"),
        ],
        terminal={"publish"},
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert kit.names(instance) == [
        "draft",
        "review",
        "revise",
        "review",
        "revise",
        "review",
        "publish",
    ]
    assert instance.context.get("rounds") == 3


async def test_routing__self_loop(engine, kit) -> None:
    def count(ctx):
        ctx.set("n", ctx.get("n", 0) + 1)
        if ctx.get("n") > 10:
            raise RuntimeError("runaway loop: the exit condition was never taken")

    counter = kit.step("count", count)
    wf = kit.workflow(
        [counter, kit.marker("done")],
        [Edge("count", "count", lambda ctx: ctx.get("n") < 4), Edge("count", "done", "n >= 4")],
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert counter.calls == 4
    assert kit.names(instance) == ["count"] * 4 + ["done"]


async def test_routing__timer_step_runs_inline(engine, kit) -> None:
    wf = kit.workflow(
        [
            kit.marker("A"),
            TimerStep(name="wait", duration=timedelta(milliseconds=5)),
            kit.marker("B"),
        ],
        [Edge("A", "wait"), Edge("wait", "B")],
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert kit.names(instance) == ["A", "wait", "B"]
    assert instance.context.step_history[1].status == "succeeded"
    assert instance.context.step_history[1].result is None


async def test_routing__timer_with_callable_duration(engine, kit) -> None:
    timer = TimerStep(name="wait", duration=lambda ctx: timedelta(milliseconds=ctx.get("ms")))
    instance = await engine.start_workflow(kit.workflow([timer], []), {"ms": 1})
    assert kit.statuses(instance) == ["succeeded"]


async def test_routing__webhook_step_waits_for_its_callback(engine, kit) -> None:
    # Issue 4: webhook steps wait (upstream ran them at once) until their callback arrives.
    from workflows_app import CallbackNotFoundError

    wf = kit.workflow(
        [WebhookStep(name="hook", callback_key="payment"), kit.marker("after")],
        [Edge("hook", "after")],
    )
    instance = await engine.start_workflow(wf)
    assert (instance.status, instance.current_step) == ("waiting", "hook")
    token = instance.context.data["hook_callback_token"]
    assert len(token) >= 40

    with pytest.raises(CallbackNotFoundError):
        await engine.complete_webhook("not-" + token, {"paid": True})
    await engine.complete_webhook(token, {"paid": True})
    assert instance.status == "completed"
    assert kit.names(instance) == ["hook", "after"]
    assert instance.context.data["payment"] == {"paid": True}
    assert instance.context.step_history[0].output_data == {"payment": {"paid": True}}
    with pytest.raises(CallbackNotFoundError):  # a token works once
        await engine.complete_webhook(token, {"paid": True})


async def test_routing__edges_declared_with_step_classes(engine, kit) -> None:
    class First(BaseMachineStep):
        name = "first"

        def execute(self, context):
            return 1

    class Second(BaseMachineStep):
        name = "second"

        def execute(self, context):
            return 2

    wf = kit.workflow([First(), Second()], [Edge(First, Second)])
    instance = await engine.start_workflow(wf)
    assert kit.names(instance) == ["first", "second"]
