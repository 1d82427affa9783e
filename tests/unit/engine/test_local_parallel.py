"""Fan-out and join (scenarios 15 and 16, plus the join rules of our design)."""

from __future__ import annotations

import pytest

from workflows_app import Edge


def join_step(kit, name="join", branches=("p1", "p2", "p3")):
    def body(ctx):
        ctx.set("all_paths_joined", all(ctx.get(f"{b}_done") for b in branches))
        ctx.set("join_runs", ctx.get("join_runs", 0) + 1)

    return kit.step(name, body)


async def test_parallel__fan_out_both_terminal__scenario_15(engine, kit) -> None:
    p1, p2 = kit.marker("p1"), kit.marker("p2")
    wf = kit.workflow(
        [kit.marker("start"), p1, p2],
        [Edge("start", "p1"), Edge("start", "p2")],
        terminal={"p1", "p2"},
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert (p1.calls, p2.calls) == (1, 1)
    assert kit.names(instance)[0] == "start"
    assert sorted(kit.names(instance)[1:]) == ["p1", "p2"]
    assert kit.statuses(instance) == ["succeeded"] * 3


async def test_parallel__failing_branch_fails_workflow__scenario_15(engine, bus, kit) -> None:
    def explode(ctx):
        raise RuntimeError("p2 broke")

    wf = kit.workflow(
        [kit.marker("start"), kit.marker("p1"), kit.step("p2", explode)],
        [Edge("start", "p1"), Edge("start", "p2")],
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "failed"
    assert instance.error == "p2 broke"
    statuses = {entry.step_name: str(entry.status) for entry in instance.context.step_history}
    assert statuses["p2"] == "failed"
    assert [kw["status"] for kw in bus.of("workflow.failed")] == ["failed"]


async def test_parallel__failing_branch_blocks_join(engine, kit) -> None:
    join = join_step(kit, branches=("p1", "p2"))
    wf = kit.workflow(
        [kit.marker("start"), kit.marker("p1"), kit.step("p2", lambda ctx: 1 / 0), join],
        [Edge("start", "p1"), Edge("start", "p2"), Edge("p1", "join"), Edge("p2", "join")],
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "failed"
    assert join.calls == 0


async def test_parallel__join_runs_once_after_all_branches__scenario_16(engine, kit) -> None:
    join = join_step(kit)
    wf = kit.workflow(
        [kit.marker("start"), kit.marker("p1"), kit.marker("p2"), kit.marker("p3"), join],
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
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert join.calls == 1
    assert instance.context.get("all_paths_joined") is True
    assert instance.context.get("join_runs") == 1
    names = kit.names(instance)
    assert names[0] == "start"
    assert sorted(names[1:4]) == ["p1", "p2", "p3"]
    assert names[4:] == ["join"]


async def test_parallel__join_waits_for_longer_branch(engine, kit) -> None:
    join = join_step(kit, branches=("p1", "p3"))
    wf = kit.workflow(
        [
            kit.marker("start"),
            kit.marker("p1"),
            kit.marker("p2"),
            kit.marker("p3"),
            join,
            kit.marker("end"),
        ],
        [
            Edge("start", "p1"),
            Edge("start", "p2"),
            Edge("p2", "p3"),
            Edge("p1", "join"),
            Edge("p3", "join"),
            Edge("join", "end"),
        ],
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert join.calls == 1
    assert instance.context.get("all_paths_joined") is True
    names = kit.names(instance)
    assert names.index("join") > names.index("p3")
    assert names[-2:] == ["join", "end"]


async def test_parallel__branch_taking_another_path_does_not_block_join(engine, kit) -> None:
    join = join_step(kit, branches=("p1",))
    side = kit.marker("side")
    wf = kit.workflow(
        [kit.marker("start"), kit.marker("p1"), kit.marker("p2"), side, join],
        [
            Edge("start", "p1"),
            Edge("start", "p2"),
            Edge("p1", "join"),
            Edge("p2", "join", lambda ctx: False),
            Edge("p2", "side", lambda ctx: True),
        ],
        terminal={"join", "side"},
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert join.calls == 1
    assert side.calls == 1
    assert instance.context.get("all_paths_joined") is True


async def test_parallel__branch_never_started_does_not_block_join(engine, kit) -> None:
    join = join_step(kit, branches=("p1",))
    p2 = kit.marker("p2")
    wf = kit.workflow(
        [kit.marker("start"), kit.marker("p1"), p2, join],
        [
            Edge("start", "p1"),
            Edge("start", "p2", "go_p2"),
            Edge("p1", "join"),
            Edge("p2", "join"),
        ],
    )
    instance = await engine.start_workflow(wf, {"go_p2": False})
    assert instance.status == "completed"
    assert p2.calls == 0
    assert join.calls == 1


async def test_parallel__branch_ending_early_does_not_block_join(engine, kit) -> None:
    join = join_step(kit, branches=("p1",))
    wf = kit.workflow(
        [kit.marker("start"), kit.marker("p1"), kit.marker("p2"), join],
        [Edge("start", "p1"), Edge("start", "p2"), Edge("p1", "join"), Edge("p2", "join")],
        terminal={"p2"},
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert join.calls == 1
    assert sorted(kit.names(instance)) == ["join", "p1", "p2", "start"]


async def test_parallel__terminal_step_ends_only_its_branch(engine, kit) -> None:
    c = kit.marker("c")
    wf = kit.workflow(
        [kit.marker("start"), kit.marker("a"), kit.marker("b"), c],
        [Edge("start", "a"), Edge("start", "b"), Edge("b", "c")],
        terminal={"a", "c"},
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert c.calls == 1
    assert sorted(kit.names(instance)) == ["a", "b", "c", "start"]


async def test_parallel__human_step_in_branch_waits_then_join_runs(engine, bus, kit) -> None:
    def join_body(ctx):
        ctx.set("saw", (ctx.get("p1_done"), ctx.get("ok")))

    join = kit.step("join", join_body)
    wf = kit.workflow(
        [kit.marker("start"), kit.marker("p1"), kit.human("h"), join],
        [Edge("start", "p1"), Edge("start", "h"), Edge("p1", "join"), Edge("h", "join")],
        terminal={"join"},
    )
    started = await engine.start_workflow(wf)
    assert started.status == "waiting"
    assert started.current_step == "h"
    assert sorted(kit.names(started)) == ["p1", "start"]
    assert join.calls == 0
    assert bus.of("workflow.waiting") == [{"instance_id": started.id, "step_name": "h"}]

    await engine.complete_human_task(started.id, "h", "u1", {"ok": True})
    instance = await engine.get_instance(started.id)
    assert instance.status == "completed"
    assert join.calls == 1
    assert instance.context.get("saw") == (True, True)
    assert kit.names(instance)[-2:] == ["h", "join"]
    assert bus.names("workflow.")[-1] == "workflow.completed"


async def test_parallel__branches_see_each_others_writes_through_shared_data(engine, kit) -> None:
    join = kit.step("join", lambda ctx: ctx.set("total", ctx.get("left") + ctx.get("right")))
    wf = kit.workflow(
        [
            kit.marker("start"),
            kit.step("left", lambda ctx: ctx.set("left", 1)),
            kit.step("right", lambda ctx: ctx.set("right", 2)),
            join,
        ],
        [
            Edge("start", "left"),
            Edge("start", "right"),
            Edge("left", "join"),
            Edge("right", "join"),
        ],
    )
    instance = await engine.start_workflow(wf)
    assert instance.context.get("total") == 3


async def test_parallel__nested_fan_out_and_join(engine, kit) -> None:
    outer = join_step(kit, name="outer", branches=("a", "b1", "b2"))
    inner = join_step(kit, name="inner", branches=("b1", "b2"))
    wf = kit.workflow(
        [
            kit.marker("start"),
            kit.marker("a"),
            kit.marker("b"),
            kit.marker("b1"),
            kit.marker("b2"),
            inner,
            outer,
        ],
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
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert (inner.calls, outer.calls) == (1, 1)
    assert instance.context.get("all_paths_joined") is True
    assert kit.names(instance)[-1] == "outer"


def two_humans_workflow(kit):
    join = kit.step("join", lambda ctx: ctx.set("both", (ctx.get("one"), ctx.get("two"))))
    wf = kit.workflow(
        [kit.marker("start"), kit.human("h1"), kit.human("h2"), join],
        [Edge("start", "h1"), Edge("start", "h2"), Edge("h1", "join"), Edge("h2", "join")],
        terminal={"join"},
    )
    return wf, join


async def test_parallel__two_waiting_human_steps_complete_in_declaration_order(
    engine, bus, kit
) -> None:
    wf, join = two_humans_workflow(kit)
    started = await engine.start_workflow(wf)
    assert started.status == "waiting"
    assert started.current_step in {"h1", "h2"}
    assert sorted(kw["step_name"] for kw in bus.of("workflow.waiting")) == ["h1", "h2"]

    await engine.complete_human_task(started.id, "h1", "u1", {"one": 1})
    middle = await engine.get_instance(started.id)
    assert middle.status == "waiting"
    assert middle.current_step == "h2"
    assert join.calls == 0

    await engine.complete_human_task(started.id, "h2", "u2", {"two": 2})
    done = await engine.get_instance(started.id)
    assert done.status == "completed"
    assert join.calls == 1
    assert done.context.get("both") == (1, 2)
    assert kit.names(done)[-1] == "join"


async def test_parallel__two_waiting_human_steps_complete_in_reverse_order(engine, kit) -> None:
    wf, join = two_humans_workflow(kit)
    started = await engine.start_workflow(wf)
    await engine.complete_human_task(started.id, "h2", "u2", {"two": 2})
    middle = await engine.get_instance(started.id)
    assert (middle.status, middle.current_step) == ("waiting", "h1")
    with pytest.raises(ValueError):
        await engine.complete_human_task(started.id, "h2", "u2", {"two": 3})
    await engine.complete_human_task(started.id, "h1", "u1", {"one": 1})
    done = await engine.get_instance(started.id)
    assert done.status == "completed"
    assert join.calls == 1
    assert done.context.get("both") == (1, 2)


async def test_parallel__cancel_while_branches_wait(engine, kit) -> None:
    wf, join = two_humans_workflow(kit)
    started = await engine.start_workflow(wf)
    await engine.complete_human_task(started.id, "h1", "u1", {"one": 1})
    await engine.cancel_workflow(started.id, "stop")
    with pytest.raises(ValueError, match="is not waiting"):
        await engine.complete_human_task(started.id, "h2", "u2", {"two": 2})
    assert join.calls == 0
    assert (await engine.get_instance(started.id)).status == "canceled"


async def test_parallel__loop_inside_a_branch_joins_once(engine, kit) -> None:
    def spin(ctx):
        ctx.set("spins", ctx.get("spins", 0) + 1)
        if ctx.get("spins") > 10:
            raise RuntimeError("runaway loop: the exit condition was never taken")

    join = kit.step("join", lambda ctx: ctx.set("spins_at_join", ctx.get("spins")))
    wf = kit.workflow(
        [kit.marker("start"), kit.marker("p1"), kit.step("spin", spin), join],
        [
            Edge("start", "p1"),
            Edge("start", "spin"),
            Edge("spin", "spin", "spins < 3"),
            Edge("spin", "join", "spins >= 3"),
            Edge("p1", "join"),
        ],
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert join.calls == 1
    assert instance.context.get("spins_at_join") == 3


async def test_parallel__retry_failed_branch_then_join_once(engine, kit) -> None:
    attempts = []

    def flaky(ctx):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("branch down")
        ctx.set("p2_done", True)

    p1 = kit.marker("p1")
    join = join_step(kit, branches=("p1", "p2"))
    wf = kit.workflow(
        [kit.marker("start"), p1, kit.step("p2", flaky), join],
        [Edge("start", "p1"), Edge("start", "p2"), Edge("p1", "join"), Edge("p2", "join")],
    )
    failed = await engine.start_workflow(wf)
    assert (failed.status, failed.error) == ("failed", "branch down")
    await engine.retry(failed.id)
    instance = await engine.get_instance(failed.id)
    assert instance.status == "completed"
    assert p1.calls == 1
    assert join.calls == 1
    assert instance.context.get("all_paths_joined") is True
    assert kit.names(instance).count("p2") == 2
