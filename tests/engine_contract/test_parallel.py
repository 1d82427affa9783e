"""Fan-out and joins (scenarios 15 and 16, and the join rules of docs/concepts/execution.rst).

The engines promise which steps run, how often, and what a join sees; the order of steps
of different branches between a fork and its join is theirs to choose, so these tests
compare those as sets.
"""

from __future__ import annotations

import pytest

from tests.engine_contract.kit import Edge, Flaky, Step, human, marker, workflow
from workflows_app import WorkflowStateError


def join_step(name="join", branches=("p1", "p2", "p3")):
    def body(ctx):
        ctx.set("all_paths_joined", all(ctx.get(f"{b}_done") for b in branches))
        ctx.set("join_runs", ctx.get("join_runs", 0) + 1)

    return Step(name, body)


def test_fan_out_runs_every_branch__scenario_15(harness) -> None:
    p1, p2 = marker("p1"), marker("p2")
    wf = workflow(
        [marker("start"), p1, p2], [Edge("start", "p1"), Edge("start", "p2")], terminal={"p1", "p2"}
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert instance.names[0] == "start"
    assert sorted(instance.names[1:]) == ["p1", "p2"]
    assert {e.status for e in instance.history} == {"succeeded"}
    assert instance.data == {"start_done": True, "p1_done": True, "p2_done": True}
    assert (p1.calls, p2.calls) == (1, 1)


def test_a_failing_branch_fails_the_instance_and_holds_the_join__scenario_15(harness, bus) -> None:
    def explode(ctx):
        raise RuntimeError("p2 broke")

    join = join_step(branches=("p1", "p2"))
    wf = workflow(
        [marker("start"), marker("p1"), Step("p2", explode), join],
        [Edge("start", "p1"), Edge("start", "p2"), Edge("p1", "join"), Edge("p2", "join")],
    )
    instance = harness.get(harness.start(wf))
    assert (instance.status, instance.error, instance.current_step) == ("failed", "p2 broke", "p2")
    assert dict(instance.trail)["p2"] == "failed"
    assert "join" not in instance.names
    assert join.calls == 0
    assert [kw["status"] for kw in bus.of("workflow.failed")] == ["failed"]


def test_the_join_runs_once_after_every_branch__scenario_16(harness) -> None:
    join = join_step()
    wf = workflow(
        [marker("start"), marker("p1"), marker("p2"), marker("p3"), join],
        [
            Edge("start", "p1"),
            Edge("start", "p2"),
            Edge("start", "p3"),
            Edge("p1", "join"),
            Edge("p2", "join"),
            Edge("p3", "join"),
        ],
        terminal={"join"},
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert instance.names[0] == "start"
    assert sorted(instance.names[1:4]) == ["p1", "p2", "p3"]
    assert instance.names[4:] == ["join"]
    assert join.calls == 1
    assert (instance.data["all_paths_joined"], instance.data["join_runs"]) == (True, 1)


def test_the_join_waits_for_the_longer_branch(harness) -> None:
    join = join_step(branches=("p1", "p3"))
    wf = workflow(
        [marker("start"), marker("p1"), marker("p2"), marker("p3"), join, marker("end")],
        [
            Edge("start", "p1"),
            Edge("start", "p2"),
            Edge("p2", "p3"),
            Edge("p1", "join"),
            Edge("p3", "join"),
            Edge("join", "end"),
        ],
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert instance.names.index("p3") > instance.names.index("p2")
    assert instance.names[-2:] == ["join", "end"]
    assert join.calls == 1
    assert instance.data["all_paths_joined"] is True


def test_a_branch_taking_another_path_does_not_hold_the_join(harness) -> None:
    join = join_step(branches=("p1",))
    side = marker("side")
    wf = workflow(
        [marker("start"), marker("p1"), marker("p2"), side, join],
        [
            Edge("start", "p1"),
            Edge("start", "p2"),
            Edge("p1", "join"),
            Edge("p2", "join", lambda ctx: False),
            Edge("p2", "side", lambda ctx: True),
        ],
        terminal={"join", "side"},
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert (join.calls, side.calls) == (1, 1)
    assert (instance.names.count("join"), instance.names.count("side")) == (1, 1)
    assert instance.data["all_paths_joined"] is True


def test_a_branch_never_started_does_not_hold_the_join(harness) -> None:
    join = join_step(branches=("p1",))
    p2 = marker("p2")
    wf = workflow(
        [marker("start"), marker("p1"), p2, join],
        [
            Edge("start", "p1"),
            Edge("start", "p2", "go_p2"),
            Edge("p1", "join"),
            Edge("p2", "join"),
        ],
    )
    instance = harness.get(harness.start(wf, {"go_p2": False}))
    assert instance.status == "completed"
    assert instance.names == ["start", "p1", "join"]
    assert (p2.calls, join.calls) == (0, 1)


def test_a_branch_ending_early_does_not_hold_the_join(harness) -> None:
    join = join_step(branches=("p1",))
    wf = workflow(
        [marker("start"), marker("p1"), marker("p2"), join],
        [Edge("start", "p1"), Edge("start", "p2"), Edge("p1", "join"), Edge("p2", "join")],
        terminal={"p2"},
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert sorted(instance.names) == ["join", "p1", "p2", "start"]
    assert join.calls == 1


def test_a_terminal_step_ends_only_its_own_branch(harness) -> None:
    c = marker("c")
    wf = workflow(
        [marker("start"), marker("a"), marker("b"), c],
        [Edge("start", "a"), Edge("start", "b"), Edge("b", "c")],
        terminal={"a", "c"},
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert sorted(instance.names) == ["a", "b", "c", "start"]
    assert c.calls == 1


def test_branches_see_each_others_writes_at_the_join(harness) -> None:
    join = Step("join", lambda ctx: ctx.set("total", ctx.get("left") + ctx.get("right")))
    wf = workflow(
        [
            marker("start"),
            Step("left", lambda ctx: ctx.set("left", 1)),
            Step("right", lambda ctx: ctx.set("right", 2)),
            join,
        ],
        [
            Edge("start", "left"),
            Edge("start", "right"),
            Edge("left", "join"),
            Edge("right", "join"),
        ],
    )
    assert harness.get(harness.start(wf)).data["total"] == 3


def test_nested_fan_out_and_join(harness) -> None:
    outer = join_step(name="outer", branches=("a", "b1", "b2"))
    inner = join_step(name="inner", branches=("b1", "b2"))
    wf = workflow(
        [marker("start"), marker("a"), marker("b"), marker("b1"), marker("b2"), inner, outer],
        [
            Edge("start", "a"),
            Edge("start", "b"),
            Edge("b", "b1"),
            Edge("b", "b2"),
            Edge("b1", "inner"),
            Edge("b2", "inner"),
            Edge("inner", "outer"),
            Edge("a", "outer"),
        ],
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert (inner.calls, outer.calls) == (1, 1)
    assert instance.names.index("inner") > max(
        instance.names.index("b1"), instance.names.index("b2")
    )
    assert instance.names[-1] == "outer"
    assert instance.data["all_paths_joined"] is True


def test_a_loop_inside_a_branch_joins_once(harness) -> None:
    def spin(ctx):
        ctx.set("spins", ctx.get("spins", 0) + 1)
        if ctx.get("spins") > 10:
            raise RuntimeError("runaway loop: the exit condition was never taken")

    join = Step("join", lambda ctx: ctx.set("spins_at_join", ctx.get("spins")))
    wf = workflow(
        [marker("start"), marker("p1"), Step("spin", spin), join],
        [
            Edge("start", "p1"),
            Edge("start", "spin"),
            Edge("spin", "spin", "spins < 3"),
            Edge("spin", "join", "spins >= 3"),
            Edge("p1", "join"),
        ],
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert (instance.names.count("spin"), instance.names.count("join")) == (3, 1)
    assert join.calls == 1
    assert instance.data["spins_at_join"] == 3


def test_joins_waiting_for_each_other_do_not_deadlock(harness) -> None:
    # j1 and j2 each have the other as a source: once both branches arrived, each join
    # waits for a branch that can still reach it (the other join). The first to be
    # reached goes first, and runs once; the second follows.
    j1 = Step("j1", lambda ctx: ctx.set("order", [*ctx.get("order", []), "j1"]))
    j2 = Step("j2", lambda ctx: ctx.set("order", [*ctx.get("order", []), "j2"]))
    wf = workflow(
        [marker("start"), marker("p"), marker("q"), j1, j2],
        [
            Edge("start", "p"),
            Edge("start", "q"),
            Edge("p", "j1"),
            Edge("q", "j2"),
            Edge("j1", "j2", "'j2' not in order"),
            Edge("j2", "j1", "'j1' not in order"),
        ],
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert (j1.calls, j2.calls) == (1, 1)
    assert instance.data["order"] == ["j1", "j2"]
    assert sorted(instance.names[1:3]) == ["p", "q"]
    assert instance.names[3:] == ["j1", "j2"]


def test_a_human_step_on_a_branch_holds_the_join(harness, bus) -> None:
    join = Step("join", lambda ctx: ctx.set("saw", [ctx.get("p1_done"), ctx.get("ok")]))
    wf = workflow(
        [marker("start"), marker("p1"), human("h"), join],
        [Edge("start", "p1"), Edge("start", "h"), Edge("p1", "join"), Edge("h", "join")],
        terminal={"join"},
    )
    instance_id = harness.start(wf)
    waiting = harness.get(instance_id)
    assert (waiting.status, waiting.current_step) == ("waiting", "h")
    assert sorted(waiting.trail) == [("p1", "succeeded"), ("start", "succeeded")]
    assert join.calls == 0
    assert bus.of("workflow.waiting") == [{"instance_id": instance_id, "step_name": "h"}]

    harness.complete(instance_id, "h", "u1", {"ok": True})
    instance = harness.get(instance_id)
    assert instance.status == "completed"
    assert instance.data["saw"] == [True, True]
    assert instance.names.index("join") > instance.names.index("h")
    assert instance.names[-1] == "join"
    assert join.calls == 1
    assert bus.names("workflow.")[-1] == "workflow.completed"


def test_a_human_step_on_another_path_does_not_hold_the_join(harness) -> None:
    # "start" forks to the join's branches and to a review that leads elsewhere.
    join = join_step(branches=("p1", "p2"))
    wf = workflow(
        [marker("start"), marker("p1"), marker("p2"), human("review"), join, marker("archive")],
        [
            Edge("start", "p1"),
            Edge("start", "p2"),
            Edge("start", "review"),
            Edge("p1", "join"),
            Edge("p2", "join"),
            Edge("review", "archive"),
        ],
    )
    instance_id = harness.start(wf)
    waiting = harness.get(instance_id)
    assert (waiting.status, waiting.current_step) == ("waiting", "review")
    assert join.calls == 1
    assert waiting.data["all_paths_joined"] is True
    harness.complete(instance_id, "review", "u1", {})
    done = harness.get(instance_id)
    assert done.status == "completed"
    assert done.names[-1] == "archive"
    assert done.names.index("review") > done.names.index("start")


def two_humans():
    join = Step("join", lambda ctx: ctx.set("both", [ctx.get("one"), ctx.get("two")]))
    wf = workflow(
        [
            marker("start"),
            human("h1", assignee_group="left"),
            human("h2", assignee_group="right"),
            join,
        ],
        [Edge("start", "h1"), Edge("start", "h2"), Edge("h1", "join"), Edge("h2", "join")],
        terminal={"join"},
    )
    return wf, join


def test_two_human_steps_in_parallel_branches(harness, bus) -> None:
    wf, join = two_humans()
    instance_id = harness.start(wf, tenant_id="t1")
    waiting = harness.get(instance_id)
    assert waiting.status == "waiting"
    assert waiting.current_step in {"h1", "h2"}
    assert sorted(kw["step_name"] for kw in bus.of("workflow.waiting")) == ["h1", "h2"]
    if harness.has_tasks:
        assert sorted(
            (t["step"], t["status"], t["group"], t["tenant"]) for t in harness.tasks(instance_id)
        ) == [("h1", "pending", "left", "t1"), ("h2", "pending", "right", "t1")]

    harness.complete(instance_id, "h1", "u1", {"one": 1})
    middle = harness.get(instance_id)
    assert (middle.status, middle.current_step) == ("waiting", "h2")
    assert join.calls == 0
    if harness.has_tasks:
        assert {t["step"]: t["status"] for t in harness.tasks(instance_id)} == {
            "h1": "completed",
            "h2": "pending",
        }

    harness.complete(instance_id, "h2", "u2", {"two": 2})
    done = harness.get(instance_id)
    assert done.status == "completed"
    assert done.data["both"] == [1, 2]
    assert done.names[-1] == "join"
    assert join.calls == 1
    if harness.has_tasks:
        assert {t["step"]: t["completed_by"] for t in harness.tasks(instance_id)} == {
            "h1": "u1",
            "h2": "u2",
        }


def test_two_human_steps_completed_in_reverse_order(harness) -> None:
    wf, join = two_humans()
    instance_id = harness.start(wf)
    harness.complete(instance_id, "h2", "u2", {"two": 2})
    middle = harness.get(instance_id)
    assert (middle.status, middle.current_step) == ("waiting", "h1")
    before = harness.fingerprint()
    with pytest.raises(ValueError):
        harness.complete(instance_id, "h2", "u2", {"two": 3})
    assert harness.fingerprint() == before
    harness.complete(instance_id, "h1", "u1", {"one": 1})
    done = harness.get(instance_id)
    assert done.status == "completed"
    assert done.data["both"] == [1, 2]
    assert join.calls == 1


def test_cancel_while_branches_wait(harness) -> None:
    wf, join = two_humans()
    instance_id = harness.start(wf)
    harness.complete(instance_id, "h1", "u1", {"one": 1})
    harness.cancel(instance_id, "stop")
    with pytest.raises(WorkflowStateError, match="is not waiting"):
        harness.complete(instance_id, "h2", "u2", {"two": 2})
    assert harness.get(instance_id).status == "canceled"
    assert join.calls == 0
    if harness.has_tasks:
        assert {t["step"]: t["status"] for t in harness.tasks(instance_id)} == {
            "h1": "completed",
            "h2": "canceled",
        }


def test_retry_of_a_failed_branch_then_the_join_runs_once(harness) -> None:
    flaky = Flaky(error=RuntimeError)

    def p2(ctx):
        flaky(ctx)
        ctx.set("p2_done", True)

    p1 = marker("p1")
    join = join_step(branches=("p1", "p2"))
    wf = workflow(
        [marker("start"), p1, Step("p2", p2), join],
        [Edge("start", "p1"), Edge("start", "p2"), Edge("p1", "join"), Edge("p2", "join")],
    )
    instance_id = harness.start(wf)
    failed = harness.get(instance_id)
    assert (failed.status, failed.error) == ("failed", "attempt 1 failed")
    harness.retry(instance_id)
    instance = harness.get(instance_id)
    assert instance.status == "completed"
    assert instance.data["all_paths_joined"] is True
    assert [e.status for e in instance.entries("p2")] == ["failed", "succeeded"]
    assert (p1.calls, join.calls) == (1, 1)


def test_a_failed_branch_puts_a_waiting_branch_on_hold_until_retried(harness) -> None:
    flaky = Flaky(error=RuntimeError)
    join = Step("join", lambda ctx: ctx.set("saw", [ctx.get("done"), ctx.get("ok")]))
    wf = workflow(
        [marker("start"), human("h"), Step("f", flaky), join],
        [Edge("start", "h"), Edge("start", "f"), Edge("h", "join"), Edge("f", "join")],
    )
    instance_id = harness.start(wf)
    failed = harness.get(instance_id)
    assert (failed.status, failed.error, failed.current_step) == (
        "failed",
        "attempt 1 failed",
        "f",
    )
    if harness.has_tasks:
        assert [t["status"] for t in harness.tasks(instance_id)] == ["on_hold"]
    before = harness.fingerprint()
    with pytest.raises(WorkflowStateError):
        harness.complete(instance_id, "h", "u1", {"ok": True})
    assert harness.fingerprint() == before

    harness.retry(instance_id)
    waiting = harness.get(instance_id)
    assert (waiting.status, waiting.current_step) == ("waiting", "h")
    if harness.has_tasks:
        assert [t["status"] for t in harness.tasks(instance_id)] == ["pending"]
    harness.complete(instance_id, "h", "u1", {"ok": True})
    done = harness.get(instance_id)
    assert done.status == "completed"
    assert done.data["saw"] == [2, True]
    assert join.calls == 1
