"""Batched commits (CHECKPOINT_INTERVAL): what is written when, and conflicts while a batch runs.

A batch is the results of consecutive machine steps that one drive keeps in memory until it
commits them. If another transition changes the instance meanwhile, the batch is applied
again to the instance as it is now, for as long as its branches are still claimed.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tests.integration.helpers import Step, executions, human, marker, tasks, workflow
from workflows_app import Edge
from workflows_app.models import StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def linear(count: int) -> type:
    steps = [marker(f"S{i}") for i in range(count)]
    return workflow(steps, [Edge(f"S{i}", f"S{i + 1}") for i in range(count - 1)])


def _writes(queries: list[dict]) -> list[str]:
    return [q["sql"].split()[0] for q in queries if q["sql"].split()[0] in ("INSERT", "UPDATE")]


@override_settings(WORKFLOWS={"CHECKPOINT_INTERVAL": 60})
def test_checkpoint__machine_steps_are_committed_together(engine) -> None:
    wf = linear(3)
    engine.start_workflow_sync(wf)  # creates the definition row
    with CaptureQueriesContext(connection) as queries:
        instance = engine.start_workflow_sync(wf)
    # The start (one instance row), then the three results: one UPDATE, one bulk INSERT.
    assert _writes(queries.captured_queries) == ["INSERT", "UPDATE", "INSERT"]
    assert [r.step_name for r in executions(instance.id)] == ["S0", "S1", "S2"]
    assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "completed"


@override_settings(WORKFLOWS={"CHECKPOINT_INTERVAL": 0})
def test_checkpoint__zero_commits_after_every_step(engine) -> None:
    wf = linear(3)
    engine.start_workflow_sync(wf)  # creates the definition row
    with CaptureQueriesContext(connection) as queries:
        instance = engine.start_workflow_sync(wf)
    assert _writes(queries.captured_queries) == ["INSERT"] + ["UPDATE", "INSERT"] * 3
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert (row.status, row.lock_version) == ("completed", 4)


def test_checkpoint__each_commit_bumps_the_lock_version(engine) -> None:
    wf = workflow(
        [marker("A"), human("H", title="Check"), marker("B")], [Edge("A", "H"), Edge("H", "B")]
    )
    instance = engine.start_workflow_sync(wf)
    versions = [WorkflowInstanceModel.objects.get(pk=instance.id).lock_version]
    engine.complete_human_task_sync(instance.id, "H", "u1", {})
    versions.append(WorkflowInstanceModel.objects.get(pk=instance.id).lock_version)
    assert versions[0] < versions[1]


def test_checkpoint__conflict_replays_the_batch_on_the_current_state(engine, registry) -> None:
    # Branch "work" runs while, from inside its step, the other branch's human task is
    # completed (another transition on the same instance, committed while our batch is open).
    # The batch then conflicts: it is applied again to the current state, and the join runs
    # exactly once, after both branches.
    holder = {}

    def complete_other_branch(ctx):
        engine.complete_human_task_sync(ctx.instance_id, "review", "u2", {"ok": True})
        ctx.set("worked", True)
        holder["seen"] = True

    wf = workflow(
        [
            marker("start"),
            human("review", title="Review"),
            Step("work", complete_other_branch),
            marker("join"),
        ],
        [
            Edge("start", "review"),
            Edge("start", "work"),
            Edge("review", "join"),
            Edge("work", "join"),
        ],
    )
    instance = engine.start_workflow_sync(wf)
    assert holder == {"seen": True}
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert row.status == "completed"
    assert row.context_data["worked"] is True and row.context_data["ok"] is True
    assert [r.step_name for r in executions(instance.id, "join")] == ["join"]
    assert [t.status for t in tasks(instance.id)] == ["completed"]


@override_settings(WORKFLOWS={"CHECKPOINT_INTERVAL": 60})
def test_checkpoint__conflict_with_a_cancel_drops_the_batch(engine) -> None:
    # A cancel committed while a batch is open takes effect when the batch commits: steps of
    # the batch may still have run (here "after"), but none of their results is written.
    after = marker("after")

    def cancel_myself(ctx):
        engine.cancel_workflow_sync(ctx.instance_id, "stop")
        ctx.set("late_write", True)

    wf = workflow(
        [marker("A"), Step("B", cancel_myself), after], [Edge("A", "B"), Edge("B", "after")]
    )
    instance = engine.start_workflow_sync(wf)
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert (row.status, row.error) == ("canceled", "Canceled: stop")
    assert "late_write" not in row.context_data
    # Nothing of the dropped batch (A's and B's results) was written after the cancel.
    assert (
        StepExecutionModel.objects.filter(instance_id=instance.id, status="succeeded").count() == 0
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("interval", [0, 60])
def test_checkpoint__steps_never_run_inside_a_transaction(registry, interval) -> None:
    # DESIGN §3.3: user step code never runs inside an open transaction, on any path:
    # start, complete_human_task, retry.
    from workflows_app.engine.persistent import PersistentExecutionEngine

    seen = []
    flaky = {"calls": 0}

    def record(ctx):
        seen.append(connection.in_atomic_block)

    def fail_once(ctx):
        seen.append(connection.in_atomic_block)
        flaky["calls"] += 1
        if flaky["calls"] == 1:
            raise RuntimeError("once")

    wf = workflow(
        [Step("A", record), human("H", title="Check"), Step("B", record), Step("C", fail_once)],
        [Edge("A", "H"), Edge("H", "B"), Edge("B", "C")],
    )
    with override_settings(WORKFLOWS={"CHECKPOINT_INTERVAL": interval}):
        engine = PersistentExecutionEngine(registry)
        instance = engine.start_workflow_sync(wf)
        engine.complete_human_task_sync(instance.id, "H", "u1", {})
        assert engine.retry_sync(instance.id).status == "completed"
    assert seen == [False] * 4


@pytest.mark.parametrize("interval", [0, 60])
def test_checkpoint__a_step_finds_its_own_instance_row(engine, interval) -> None:
    # Steps may refer to their instance (a foreign key, a lookup): it is committed before
    # the first step runs, whatever the checkpoint interval.
    seen = []
    wf = workflow(
        [
            Step(
                "A",
                lambda ctx: seen.append(
                    WorkflowInstanceModel.objects.filter(pk=ctx.instance_id).exists()
                ),
            )
        ],
        [],
    )
    with override_settings(WORKFLOWS={"CHECKPOINT_INTERVAL": interval}):
        engine.start_workflow_sync(wf)
    assert seen == [True]
