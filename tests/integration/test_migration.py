"""Moving running instances to another version of their workflow: the plan's checks, the
preview (which writes nothing) and the move (one transaction per instance), on every
database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.integration.helpers import Edge, human, marker, names, snapshot, tasks, workflow
from workflows_app import MigrationPlan, TimerStep, WorkflowValidationError
from workflows_app.core import clock
from workflows_app.core.migration import definition_diff, plan_problems
from workflows_app.engine.worker import Worker
from workflows_app.models import WorkflowInstanceModel
from workflows_app.signals import workflow_migrated

pytestmark = pytest.mark.django_db


def versions(engine: Any, *pairs: tuple[list[Any], list[Edge]]) -> list[type]:
    """Workflow classes named 'wf', versions 1.0.0, 2.0.0, ..., all registered."""
    classes = []
    for number, (steps, edges) in enumerate(pairs, start=1):
        cls = workflow(steps, edges, version=f"{number}.0.0")
        engine.registry.register(cls)
        classes.append(cls)
    return classes


def row(instance_id: Any) -> WorkflowInstanceModel:
    return WorkflowInstanceModel.objects.get(pk=instance_id)


PLAN = MigrationPlan("wf", "1.0.0", "2.0.0")


# -- the plan --------------------------------------------------------------------------


def test_plan__an_unmapped_waiting_step_is_refused_and_nothing_is_written(engine) -> None:
    v1, _ = versions(
        engine,
        ([marker("A"), human("H"), marker("B")], [Edge("A", "H"), Edge("H", "B")]),
        ([marker("A"), human("Check"), marker("B")], [Edge("A", "Check"), Edge("Check", "B")]),
    )
    started = engine.start_workflow_sync(v1)
    before = snapshot()

    preview = engine.plan_migration_sync(PLAN)
    with pytest.raises(WorkflowValidationError, match="step 'H' \\(human\\) is not in version"):
        engine.migrate_instances_sync(PLAN)

    assert preview.problems == [
        "step 'H' (human) is not in version 2.0.0: map it to a step of that version"
    ]
    assert [check.instance_id for check in preview.instances] == [started.id]
    assert snapshot() == before


def test_plan__mapping_checks_name_the_step(engine) -> None:
    v1, v2 = versions(
        engine,
        ([marker("A"), human("H")], [Edge("A", "H")]),
        ([marker("A"), human("Check")], [Edge("A", "Check")]),
    )
    source, target = v1.get_definition(), v2.get_definition()

    problems = plan_problems(
        MigrationPlan("wf", "1.0.0", "2.0.0", {"H": "A", "Z": "Check", "A": "Nope"}),
        source,
        target,
    )

    assert "the mapping names step 'Z', which version 1.0.0 does not have" in problems
    assert "the mapping sends step 'A' to 'Nope', which version 2.0.0 does not have" in problems
    assert "step 'H' is a human step and cannot move onto 'A', a machine step" in problems
    assert (
        plan_problems(MigrationPlan("wf", "1.0.0", "2.0.0", {"H": "Check"}), source, target) == []
    )


def test_diff__steps_and_edges_through_the_mapping(engine) -> None:
    v1, v2 = versions(
        engine,
        ([marker("A"), human("H"), marker("B")], [Edge("A", "H"), Edge("H", "B")]),
        (
            [marker("A"), human("Check", form_schema={"type": "object"}), marker("N"), marker("B")],
            [Edge("A", "Check"), Edge("Check", "N"), Edge("N", "B")],
        ),
    )
    plan = MigrationPlan("wf", "1.0.0", "2.0.0", {"H": "Check"})

    diff = definition_diff(plan, v1.get_definition(), v2.get_definition())

    assert diff.steps_added == ["N"]
    assert diff.steps_removed == []
    assert diff.steps_renamed == [("H", "Check")]
    assert diff.steps_changed == [("Check", "form_schema")]
    assert diff.edges_added == [("Check", "N"), ("N", "B")]
    assert diff.edges_removed == [("Check", "B")]


# -- moving instances ------------------------------------------------------------------


def test_move__a_step_added_after_a_waiting_task_runs_when_the_task_is_done(
    engine, committed
) -> None:
    v1, _ = versions(
        engine,
        ([marker("A"), human("H"), marker("B")], [Edge("A", "H"), Edge("H", "B")]),
        (
            [marker("A"), human("H"), marker("N"), marker("B")],
            [Edge("A", "H"), Edge("H", "N"), Edge("N", "B")],
        ),
    )
    started = engine.start_workflow_sync(v1)
    heard: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs)

    workflow_migrated.connect(receiver)
    try:
        with committed():
            with_events = engine.migrate_instances_sync(PLAN, by="ops")
    finally:
        workflow_migrated.disconnect(receiver)

    assert with_events.moved == [started.id] and with_events.skipped == []
    moved = row(started.id)
    assert (moved.workflow_version, moved.metadata["workflow_version"]) == ("2.0.0", "2.0.0")
    [record] = moved.metadata["migrations"]
    assert (record["from_version"], record["to_version"], record["by"]) == ("1.0.0", "2.0.0", "ops")
    assert [event["instance_id"] for event in heard] == [started.id]

    done = engine.complete_human_task_sync(started.id, "H", "ann", {})

    assert done.status == "completed"
    assert names(done) == ["A", "H", "N", "B"]


def test_move__a_renamed_human_step_keeps_the_tasks_assignee_and_due_date(engine) -> None:
    v1, _ = versions(
        engine,
        (
            [marker("A"), human("H", title="Approve", due_in=timedelta(days=2)), marker("B")],
            [Edge("A", "H"), Edge("H", "B")],
        ),
        (
            [marker("A"), human("Approval", title="Approve the claim"), marker("B")],
            [Edge("A", "Approval"), Edge("Approval", "B")],
        ),
    )
    claimed = engine.start_workflow_sync(v1)
    unclaimed = engine.start_workflow_sync(v1)
    [task] = tasks(claimed.id, "H")
    engine.reassign_task_sync(task.pk, assignee_id="bob", reassigned_by="lead")
    plan = MigrationPlan("wf", "1.0.0", "2.0.0", {"H": "Approval"})

    result = engine.migrate_instances_sync(plan)

    assert sorted(map(str, result.moved)) == sorted([str(claimed.id), str(unclaimed.id)])
    [kept] = tasks(claimed.id, "Approval")
    assert (kept.assignee_id, kept.title, kept.due_at) == ("bob", "Approve", task.due_at)
    [reread] = tasks(unclaimed.id, "Approval")
    assert (reread.assignee_id, reread.title) == (None, "Approve the claim")
    assert reread.due_at is not None  # kept: the new step has no due date of its own
    assert row(claimed.id).current_step == "Approval"

    done = engine.complete_human_task_sync(claimed.id, "Approval", "bob", {})

    assert done.status == "completed"
    assert names(done) == ["A", "Approval", "B"]


def test_move__a_waiting_timer_fires_at_its_original_due_time(engine, monkeypatch) -> None:
    now = {"at": datetime(2030, 1, 1, 9, 0, tzinfo=UTC)}
    monkeypatch.setattr(clock, "utcnow", lambda: now["at"])
    v1, _ = versions(
        engine,
        ([TimerStep("T", duration=timedelta(hours=3)), marker("B")], [Edge("T", "B")]),
        (  # the new version waits a minute only, and adds a step after the timer
            [TimerStep("T", duration=timedelta(minutes=1)), marker("C"), marker("B")],
            [Edge("T", "C"), Edge("C", "B")],
        ),
    )
    started = engine.start_workflow_sync(v1)
    before = row(started.id)

    engine.migrate_instances_sync(PLAN)

    after = row(started.id)
    assert after.workflow_version == "2.0.0"
    assert (after.tokens, after.wake_at) == (before.tokens, before.wake_at)
    now["at"] += timedelta(hours=2)  # past the new version's minute, not the old 3 hours
    Worker(engine, burst=True, listen=False).run()
    assert row(started.id).status == "running"
    now["at"] += timedelta(hours=1)
    Worker(engine, burst=True, listen=False).run()
    done = engine.get_instance_sync(started.id)
    assert done.status == "completed"
    assert names(done)[-2:] == ["C", "B"]


def test_move__a_parallel_instance_with_one_branch_waiting(engine) -> None:
    steps = [marker("S"), human("H"), marker("X"), marker("J")]
    edges = [Edge("S", "H"), Edge("S", "X"), Edge("H", "J"), Edge("X", "J")]
    v1, _ = versions(
        engine,
        (steps, edges),
        ([*steps, marker("After")], [*edges, Edge("J", "After")]),
    )
    started = engine.start_workflow_sync(v1)
    assert started.status == "waiting"

    assert engine.migrate_instances_sync(PLAN).moved == [started.id]
    done = engine.complete_human_task_sync(started.id, "H", "ann", {})

    assert done.status == "completed"
    assert names(done)[-2:] == ["J", "After"]


def test_move__a_busy_or_finished_instance_is_skipped_with_its_reason(engine) -> None:
    v1, _ = versions(
        engine,
        ([marker("A"), human("H")], [Edge("A", "H")]),
        ([marker("A"), human("H"), marker("B")], [Edge("A", "H"), Edge("H", "B")]),
    )
    busy = engine.start_workflow_sync(v1)
    WorkflowInstanceModel.objects.filter(pk=busy.id).update(
        lease_owner="another-drive", lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    finished = engine.start_workflow_sync(v1)
    engine.complete_human_task_sync(finished.id, "H", "ann", {})
    ready = engine.start_workflow_sync(v1)

    preview = engine.plan_migration_sync(PLAN, [busy.id, finished.id, ready.id])
    result = engine.migrate_instances_sync(PLAN, [busy.id, finished.id, ready.id])

    reasons = {check.instance_id: check.reason for check in preview.instances}
    assert "lease is live" in reasons[busy.id]
    assert reasons[finished.id] == "it is completed"
    assert reasons[ready.id] is None
    assert result.moved == [ready.id]
    assert dict(result.skipped) == {busy.id: reasons[busy.id], finished.id: "it is completed"}
    assert row(busy.id).workflow_version == "1.0.0"


def test_move__and_back_with_the_inverse_plan(engine) -> None:
    v1, _ = versions(
        engine,
        ([marker("A"), human("H"), marker("B")], [Edge("A", "H"), Edge("H", "B")]),
        ([marker("A"), human("Check"), marker("B")], [Edge("A", "Check"), Edge("Check", "B")]),
    )
    started = engine.start_workflow_sync(v1)
    plan = MigrationPlan("wf", "1.0.0", "2.0.0", {"H": "Check"})

    assert engine.migrate_instances_sync(plan).moved == [started.id]
    assert engine.migrate_instances_sync(plan.inverse()).moved == [started.id]

    back = row(started.id)
    assert (back.workflow_version, back.current_step) == ("1.0.0", "H")
    assert len(back.metadata["migrations"]) == 2
    assert engine.complete_human_task_sync(started.id, "H", "ann", {}).status == "completed"


def test_move__only_the_tenant_asked_for(engine) -> None:
    v1, _ = versions(
        engine,
        ([marker("A"), human("H")], [Edge("A", "H")]),
        ([marker("A"), human("H"), marker("B")], [Edge("A", "H"), Edge("H", "B")]),
    )
    acme = engine.start_workflow_sync(v1, tenant_id="acme")
    globex = engine.start_workflow_sync(v1, tenant_id="globex")

    result = engine.migrate_instances_sync(PLAN, [acme.id, globex.id], tenant_id="acme")

    assert result.moved == [acme.id]
    assert result.skipped == [(globex.id, "no such instance")]
    assert row(globex.id).workflow_version == "1.0.0"


# -- the service every face uses --------------------------------------------------------


def test_service__needs_the_permission_and_stays_in_the_actors_tenant(engine) -> None:
    from workflows_app.services import Actor, NotAllowedError, WorkflowService

    v1, _ = versions(
        engine,
        ([marker("A"), human("H")], [Edge("A", "H")]),
        ([marker("A"), human("H"), marker("B")], [Edge("A", "H"), Edge("H", "B")]),
    )
    acme = engine.start_workflow_sync(v1, tenant_id="acme")
    globex = engine.start_workflow_sync(v1, tenant_id="globex")
    service = WorkflowService(engine)
    may = lambda codename: codename == "migrate_workflowinstance"  # noqa: E731
    stranger = Actor("eve", tenant_id="acme", scoped=True)
    ops = Actor("ops", tenant_id="acme", scoped=True, has_perm=may)

    with pytest.raises(NotAllowedError):
        service.migrate(stranger, PLAN, dry_run=True)
    preview = service.migrate(ops, PLAN, dry_run=True)
    result = service.migrate(ops, PLAN, [acme.id, globex.id])

    assert [check.instance_id for check in preview.instances] == [acme.id]
    assert result.moved == [acme.id]
    assert result.skipped == [(globex.id, "no such instance")]
    assert (row(acme.id).metadata["migrations"][0]["by"], row(globex.id).workflow_version) == (
        "ops",
        "1.0.0",
    )


def test_move__an_instance_that_cannot_be_written_fails_alone(engine, monkeypatch) -> None:
    """The group's bulk write fails; the group is moved again one instance at a time, and
    only the instance at fault fails (the others move, the database stays consistent)."""
    from django.db import DatabaseError

    from workflows_app.engine import task_actions

    v1, _ = versions(
        engine,
        ([marker("A"), human("H")], [Edge("A", "H")]),
        ([marker("A"), human("H"), marker("B")], [Edge("A", "H"), Edge("H", "B")]),
    )
    started = [engine.start_workflow_sync(v1) for _ in range(3)]
    doomed = started[1].id
    move_task = task_actions.move_task

    def failing(using: str, task: Any, to_step: str, fields: Any) -> None:
        if task.instance_id == doomed:
            raise DatabaseError("cannot write this task")
        move_task(using, task, to_step, fields)

    monkeypatch.setattr(task_actions, "move_task", failing)

    result = engine.migrate_instances_sync(PLAN)

    assert sorted(map(str, result.moved)) == sorted(str(s.id) for s in started if s.id != doomed)
    assert result.failed == [(doomed, "DatabaseError: cannot write this task")]
    assert row(doomed).workflow_version == "1.0.0"
    assert [task.step_name for task in tasks(doomed)] == ["H"]
    assert {row(s.id).workflow_version for s in started if s.id != doomed} == {"2.0.0"}
