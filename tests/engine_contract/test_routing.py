"""Routing: guards, callable and string conditions, gateways and loops (scenarios 4 to 6)."""

from __future__ import annotations

import pytest

from tests.engine_contract.kit import Edge, Step, marker, workflow
from workflows_app import ExclusiveGateway, ParallelGateway, WorkflowValidationError


def eligibility(approved_condition, rejected_condition):
    check = Step("check", lambda ctx: ctx.set("eligible", ctx.get("amount") < 1000))
    approved, rejected = marker("approved"), marker("rejected")
    wf = workflow(
        [check, approved, rejected],
        [
            Edge("check", "approved", approved_condition),
            Edge("check", "rejected", rejected_condition),
        ],
        terminal={"approved", "rejected"},
    )
    return wf, approved, rejected


def test_callable_conditions_pick_one_branch__scenario_4(harness) -> None:
    wf, approved, rejected = eligibility(
        lambda ctx: ctx.get("eligible") is True, lambda ctx: ctx.get("eligible") is False
    )
    small = harness.get(harness.start(wf, {"amount": 500}))
    assert (small.status, small.names, small.data["eligible"]) == (
        "completed",
        ["check", "approved"],
        True,
    )
    assert rejected.calls == 0
    big = harness.get(harness.start(wf, {"amount": 5000}))
    assert (big.status, big.names, big.data["eligible"]) == (
        "completed",
        ["check", "rejected"],
        False,
    )
    assert (approved.calls, rejected.calls) == (1, 1)


def test_string_conditions_pick_one_branch__scenario_5(harness) -> None:
    review, auto = marker("manager_review"), marker("auto_approve")
    wf = workflow(
        [marker("submit"), review, auto],
        [
            Edge("submit", "manager_review", "context.get('amount', 0) >= 1000"),
            Edge("submit", "auto_approve", "context.get('amount', 0) < 1000"),
        ],
        terminal={"manager_review", "auto_approve"},
    )
    assert harness.get(harness.start(wf, {"amount": 1500})).names == ["submit", "manager_review"]
    assert harness.get(harness.start(wf, {"amount": 10})).names == ["submit", "auto_approve"]
    assert (review.calls, auto.calls) == (1, 1)


@pytest.mark.parametrize(
    ("approved", "rejected"),
    [
        pytest.param("eligible", "not eligible", id="bare-names"),
        pytest.param("eligible == True", "eligible == False", id="comparisons"),
        pytest.param("ctx.get('eligible') == True", "ctx.get('eligible') == False", id="ctx"),
        pytest.param("data['eligible']", "not data['eligible']", id="data"),
    ],
)
def test_string_conditions_see_what_the_step_just_wrote(harness, approved, rejected) -> None:
    # ``ctx`` is upstream's spelling of ``context`` (its examples write ctx.get('approved')).
    wf, _, _ = eligibility(approved, rejected)
    assert harness.get(harness.start(wf, {"amount": 1})).names == ["check", "approved"]
    assert harness.get(harness.start(wf, {"amount": 5000})).names == ["check", "rejected"]


def test_a_string_condition_that_is_not_allowed_refuses_the_start(harness) -> None:
    wf = workflow([marker("A"), marker("B")], [Edge("A", "B", "__import__('os').system('true')")])
    before = harness.fingerprint()
    with pytest.raises(WorkflowValidationError):
        harness.start(wf)
    assert harness.fingerprint() == before


def test_a_condition_that_raises_fails_the_instance(harness) -> None:
    def broken(ctx):
        raise LookupError("no such rate")

    wf = workflow([marker("A"), marker("B")], [Edge("A", "B", broken)])
    instance = harness.get(harness.start(wf))
    assert (instance.status, instance.current_step) == ("failed", "A")
    assert "Routing after step 'A' failed" in instance.error
    assert "no such rate" in instance.error
    assert instance.trail == [("A", "succeeded")]


def test_guard_false_skips_the_step__scenario_6(harness, bus) -> None:
    guarded = Step("G", lambda ctx: ctx.set("g_ran", True), guard=lambda ctx: False)
    after = marker("B")
    instance = harness.get(harness.start(workflow([guarded, after], [Edge("G", "B")])))
    assert instance.status == "completed"
    assert instance.trail == [("G", "skipped"), ("B", "succeeded")]
    skipped = instance.history[0]
    assert (skipped.result, skipped.output, skipped.error) == (None, None, None)
    assert skipped.completed_at is not None
    assert "g_ran" not in instance.data
    assert (guarded.calls, after.calls) == (0, 1)
    assert bus.of("step.skipped") == [{"instance_id": instance.id, "step_name": "G"}]
    assert [kw["step_name"] for kw in bus.of("step.completed")] == ["B"]
    assert bus.names("workflow.")[-1] == "workflow.completed"


def test_guard_true_runs_the_step(harness) -> None:
    guarded = Step("G", lambda ctx: "ran", guard=lambda ctx: ctx.get("allowed", False))
    instance = harness.get(harness.start(workflow([guarded], []), {"allowed": True}))
    assert instance.trail == [("G", "succeeded")]
    assert instance.history[0].output == {"result": "ran"}


def test_a_skipped_step_is_routed_on_like_any_other(harness) -> None:
    wf = workflow(
        [marker("A"), Step("G", guard=lambda ctx: False), marker("B"), marker("C")],
        [Edge("A", "G"), Edge("G", "B", "x == 1"), Edge("G", "C", "x == 2")],
    )
    assert harness.get(harness.start(wf, {"x": 2})).names == ["A", "G", "C"]


def test_exclusive_gateway_routes_only_to_the_step_it_returns(harness) -> None:
    a, b = marker("a"), marker("b")
    gateway = ExclusiveGateway(name="gw", condition=lambda ctx: "b" if ctx.get("pick_b") else "a")
    wf = workflow(
        [marker("start"), gateway, a, b], [Edge("start", "gw"), Edge("gw", "a"), Edge("gw", "b")]
    )
    picked_b = harness.get(harness.start(wf, {"pick_b": True}))
    assert (picked_b.status, picked_b.names) == ("completed", ["start", "gw", "b"])
    assert picked_b.history[1].output == {"result": "b"}
    assert a.calls == 0
    picked_a = harness.get(harness.start(wf, {"pick_b": False}))
    assert picked_a.names == ["start", "gw", "a"]
    assert (a.calls, b.calls) == (1, 1)


def test_exclusive_gateway_returning_a_list_fans_out(harness) -> None:
    a, b, c = marker("a"), marker("b"), marker("c")
    gateway = ExclusiveGateway(name="gw", condition=lambda ctx: ["a", "c"])
    wf = workflow([gateway, a, b, c], [Edge("gw", "a"), Edge("gw", "b"), Edge("gw", "c")])
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert (a.calls, b.calls, c.calls) == (1, 0, 1)
    assert instance.names[0] == "gw"
    assert sorted(instance.names[1:]) == ["a", "c"]


def test_parallel_gateway_fans_out_and_joins_once(harness) -> None:
    x, y = marker("x"), marker("y")
    join = Step(
        "join", lambda ctx: ctx.set("joined", sorted(k for k in ctx.data if k.endswith("_done")))
    )
    wf = workflow(
        [ParallelGateway(name="fork", branches=["x", "y"]), x, y, join],
        [Edge("fork", "x"), Edge("fork", "y"), Edge("x", "join"), Edge("y", "join")],
        terminal={"join"},
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert (x.calls, y.calls, join.calls) == (1, 1, 1)
    assert instance.data["joined"] == ["x_done", "y_done"]
    assert instance.names[0] == "fork"
    assert sorted(instance.names[1:3]) == ["x", "y"]
    assert instance.names[3:] == ["join"]


def test_revision_loop_runs_until_its_condition_holds(harness) -> None:
    def review(ctx):
        ctx.set("rounds", ctx.get("rounds", 0) + 1)
        if ctx.get("rounds") > 10:
            raise RuntimeError("runaway loop: the exit condition was never taken")
        ctx.set("approved", ctx.get("rounds") >= 3)

    wf = workflow(
        [marker("draft"), Step("review", review), marker("revise"), marker("publish")],
        [
            Edge("draft", "review"),
            Edge("review", "revise", "not approved"),
            Edge("revise", "review"),
            Edge("review", "publish", "approved"),
        ],
        terminal={"publish"},
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert instance.names == [
        "draft",
        "review",
        "revise",
        "review",
        "revise",
        "review",
        "publish",
    ]
    assert instance.data["rounds"] == 3


def test_self_loop(harness) -> None:
    def count(ctx):
        ctx.set("n", ctx.get("n", 0) + 1)
        if ctx.get("n") > 10:
            raise RuntimeError("runaway loop: the exit condition was never taken")

    counter = Step("count", count)
    wf = workflow(
        [counter, marker("done")],
        [Edge("count", "count", lambda ctx: ctx.get("n") < 4), Edge("count", "done", "n >= 4")],
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert counter.calls == 4
    assert instance.names == ["count"] * 4 + ["done"]
