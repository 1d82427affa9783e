"""Fan-out, joins and parallel human tasks on the database (scenarios 15 and 16)."""

from __future__ import annotations

import pytest

from tests.integration.helpers import (
    Edge,
    FlakyOnce,
    Step,
    executions,
    human,
    marker,
    tasks,
    workflow,
)
from workflows_app.models import StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def join_step(name="join", branches=("p1", "p2", "p3")):
    def body(ctx):
        ctx.set("all_paths_joined", all(ctx.get(f"{b}_done") for b in branches))
        ctx.set("join_runs", ctx.get("join_runs", 0) + 1)

    return Step(name, body)


def join_rows(instance_id, name="join"):
    return StepExecutionModel.objects.filter(instance_id=instance_id, step_name=name).count()


def test_fan_out_runs_every_branch__scenario_15(engine) -> None:
    p1, p2 = marker("p1"), marker("p2")
    wf = workflow(
        [marker("start"), p1, p2], [Edge("start", "p1"), Edge("start", "p2")], terminal={"p1", "p2"}
    )
    instance = engine.start_workflow_sync(wf)
    rows = executions(instance.id)
    assert rows[0].step_name == "start"
    assert sorted(r.step_name for r in rows[1:]) == ["p1", "p2"]
    assert {r.status for r in rows} == {"succeeded"}
    assert len({r.token_id for r in rows[1:]}) == 2  # two branches
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert row.status == "completed"
    assert row.context_data == {"start_done": True, "p1_done": True, "p2_done": True}
    assert (p1.calls, p2.calls) == (1, 1)


def test_failing_branch_fails_the_instance__scenario_15(engine, bus, committed) -> None:
    def explode(ctx):
        raise RuntimeError("p2 broke")

    join = join_step(branches=("p1", "p2"))
    wf = workflow(
        [marker("start"), marker("p1"), Step("p2", explode), join],
        [Edge("start", "p1"), Edge("start", "p2"), Edge("p1", "join"), Edge("p2", "join")],
    )
    with committed():
        instance = engine.start_workflow_sync(wf)
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert (row.status, row.error, row.current_step) == ("failed", "p2 broke", "p2")
    assert {r.step_name: r.status for r in executions(instance.id)}["p2"] == "failed"
    assert join.calls == 0
    assert join_rows(instance.id) == 0
    assert [kw["status"] for kw in bus.of("workflow.failed")] == ["failed"]


def test_join_runs_exactly_once__scenario_16(engine) -> None:
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
    instance = engine.start_workflow_sync(wf)
    rows = executions(instance.id)
    assert rows[0].step_name == "start"
    assert sorted(r.step_name for r in rows[1:4]) == ["p1", "p2", "p3"]
    assert [r.step_name for r in rows[4:]] == ["join"]
    assert join_rows(instance.id) == 1
    assert join.calls == 1
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert row.status == "completed"
    assert row.context_data["all_paths_joined"] is True
    assert row.context_data["join_runs"] == 1


def test_join_waits_for_the_longer_branch(engine) -> None:
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
    instance = engine.start_workflow_sync(wf)
    order = [r.step_name for r in executions(instance.id)]
    assert order.index("join") > order.index("p3")
    assert order[-2:] == ["join", "end"]
    assert join_rows(instance.id) == 1
    assert (
        WorkflowInstanceModel.objects.get(pk=instance.id).context_data["all_paths_joined"] is True
    )


def test_branch_taking_another_path_does_not_block_the_join(engine) -> None:
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
    instance = engine.start_workflow_sync(wf)
    assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "completed"
    assert (join_rows(instance.id), join_rows(instance.id, "side")) == (1, 1)


def test_nested_fan_out_and_join(engine) -> None:
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
    instance = engine.start_workflow_sync(wf)
    assert (join_rows(instance.id, "inner"), join_rows(instance.id, "outer")) == (1, 1)
    assert [r.step_name for r in executions(instance.id)][-1] == "outer"
    assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "completed"


def test_loop_inside_a_branch_joins_once(engine) -> None:
    def spin(ctx):
        ctx.set("spins", ctx.get("spins", 0) + 1)

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
    instance = engine.start_workflow_sync(wf)
    assert join_rows(instance.id) == 1
    assert join_rows(instance.id, "spin") == 3
    assert WorkflowInstanceModel.objects.get(pk=instance.id).context_data["spins_at_join"] == 3


def test_human_step_in_one_branch_holds_the_join(engine, bus, committed) -> None:
    join = Step("join", lambda ctx: ctx.set("saw", [ctx.get("p1_done"), ctx.get("ok")]))
    wf = workflow(
        [marker("start"), marker("p1"), human("h"), join],
        [Edge("start", "p1"), Edge("start", "h"), Edge("p1", "join"), Edge("h", "join")],
        terminal={"join"},
    )
    with committed():
        started = engine.start_workflow_sync(wf)
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.current_step) == ("waiting", "h")
    assert sorted(r.step_name for r in executions(started.id) if r.status == "succeeded") == [
        "p1",
        "start",
    ]
    assert join_rows(started.id) == 0
    assert bus.of("workflow.waiting") == [{"instance_id": started.id, "step_name": "h"}]

    with committed():
        engine.complete_human_task_sync(started.id, "h", "u1", {"ok": True})
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert row.status == "completed"
    assert row.context_data["saw"] == [True, True]
    assert join_rows(started.id) == 1
    assert bus.names("workflow.")[-1] == "workflow.completed"


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
        name="two_humans",
        terminal={"join"},
    )
    return wf, join


def test_two_human_tasks_in_parallel_branches(engine, bus, committed) -> None:
    wf, join = two_humans()
    with committed():
        started = engine.start_workflow_sync(wf, tenant_id="t1")
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert row.status == "waiting"
    assert row.current_step in {"h1", "h2"}
    assert sorted(
        (t.step_name, t.status, t.assignee_group, t.tenant_id) for t in tasks(started.id)
    ) == [
        ("h1", "pending", "left", "t1"),
        ("h2", "pending", "right", "t1"),
    ]
    assert sorted(
        (r.step_name, r.status) for r in executions(started.id) if r.step_type == "human"
    ) == [
        ("h1", "waiting"),
        ("h2", "waiting"),
    ]
    assert sorted(kw["step_name"] for kw in bus.of("workflow.waiting")) == ["h1", "h2"]

    engine.complete_human_task_sync(started.id, "h1", "u1", {"one": 1})
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.current_step) == ("waiting", "h2")
    assert join_rows(started.id) == 0
    assert {t.step_name: t.status for t in tasks(started.id)} == {
        "h1": "completed",
        "h2": "pending",
    }

    with committed():
        engine.complete_human_task_sync(started.id, "h2", "u2", {"two": 2})
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert row.status == "completed"
    assert row.context_data["both"] == [1, 2]
    assert join_rows(started.id) == 1
    assert join.calls == 1
    assert [r.step_name for r in executions(started.id)][-1] == "join"
    assert {t.step_name: t.completed_by for t in tasks(started.id)} == {"h1": "u1", "h2": "u2"}


def test_two_human_tasks_completed_in_reverse_order(engine) -> None:
    wf, join = two_humans()
    started = engine.start_workflow_sync(wf)
    engine.complete_human_task_sync(started.id, "h2", "u2", {"two": 2})
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.current_step) == ("waiting", "h1")
    engine.complete_human_task_sync(started.id, "h1", "u1", {"one": 1})
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert row.status == "completed"
    assert row.context_data["both"] == [1, 2]
    assert join_rows(started.id) == 1
    assert join.calls == 1


def test_cancel_while_branches_wait(engine) -> None:
    wf, join = two_humans()
    started = engine.start_workflow_sync(wf)
    engine.complete_human_task_sync(started.id, "h1", "u1", {"one": 1})
    engine.cancel_workflow_sync(started.id, "stop")
    assert {t.step_name: t.status for t in tasks(started.id)} == {
        "h1": "completed",
        "h2": "canceled",
    }
    assert not StepExecutionModel.objects.filter(instance_id=started.id, status="waiting").exists()
    assert join_rows(started.id) == 0
    assert join.calls == 0
    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "canceled"


def test_retry_failed_branch_then_join_once(engine) -> None:
    flaky = FlakyOnce("branch down")

    def p2(ctx):
        flaky(ctx)
        ctx.set("p2_done", True)

    p1 = marker("p1")
    join = join_step(branches=("p1", "p2"))
    wf = workflow(
        [marker("start"), p1, Step("p2", p2), join],
        [Edge("start", "p1"), Edge("start", "p2"), Edge("p1", "join"), Edge("p2", "join")],
    )
    failed = engine.start_workflow_sync(wf)
    row = WorkflowInstanceModel.objects.get(pk=failed.id)
    assert (row.status, row.error) == ("failed", "branch down")
    engine.retry_sync(failed.id)
    row = WorkflowInstanceModel.objects.get(pk=failed.id)
    assert row.status == "completed"
    assert row.context_data["all_paths_joined"] is True
    assert p1.calls == 1
    assert join_rows(failed.id) == 1
    assert [r.status for r in executions(failed.id, "p2")] == ["failed", "succeeded"]
