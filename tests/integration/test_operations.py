"""Operations commands: list, retry and cancel in bulk, prune."""

from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from tests.integration.helpers import Edge, FlakyOnce, Step, human, marker, snapshot, workflow
from workflows_app.core import registry as registry_module
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def default_registry_engine(monkeypatch):
    """The commands use the default registry: give them a fresh one."""
    from workflows_app import WorkflowRegistry
    from workflows_app.engine.persistent import PersistentExecutionEngine

    fresh = WorkflowRegistry()
    monkeypatch.setattr(registry_module, "default_registry", fresh)
    monkeypatch.setattr("workflows_app.engine.persistent.default_registry", fresh, raising=True)
    return PersistentExecutionEngine(fresh)


def run(*argv) -> str:
    out = StringIO()
    call_command(*argv, stdout=out, stderr=out)
    return out.getvalue()


def test_workflows_list_and_retry__failed_instances(default_registry_engine) -> None:
    engine = default_registry_engine
    flaky = FlakyOnce("down")
    wf = workflow([Step("A", flaky)], [], name="ops_flaky")
    failed = engine.start_workflow_sync(wf)
    ok = engine.start_workflow_sync(workflow([marker("A")], [], name="ops_ok"))

    listing = run("workflows_list", "--failed")
    assert str(failed.id) in listing and str(ok.id) not in listing
    assert "1 instance(s)" in listing and "down" in listing

    out = run("workflows_retry", "--failed")
    assert "Retried 1 instance(s); 0 could not be retried." in out
    assert WorkflowInstanceModel.objects.get(pk=failed.id).status == "completed"
    assert "0 instance(s)" in run("workflows_list", "--failed")


def test_workflows_retry__an_instance_that_did_not_fail_is_reported(
    default_registry_engine,
) -> None:
    engine = default_registry_engine
    waiting = engine.start_workflow_sync(workflow([human("H", title="Check")], [], name="ops_wait"))
    out = run("workflows_retry", str(waiting.id))
    assert "Retried 0 instance(s); 1 could not be retried." in out
    assert "only failed workflows can be retried" in out
    assert WorkflowInstanceModel.objects.get(pk=waiting.id).status == "waiting"


def test_workflows_list_and_cancel__stuck_instances(default_registry_engine) -> None:
    engine = default_registry_engine
    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
        stuck = engine.start_workflow_sync(workflow([marker("A")], [], name="ops_stuck"))
        fresh = engine.start_workflow_sync(workflow([marker("A")], [], name="ops_stuck"))
    WorkflowInstanceModel.objects.filter(pk=stuck.id).update(
        wake_at=timezone.now() - timedelta(hours=1)
    )
    listing = run("workflows_list", "--stuck", "--older-than", "30")
    assert str(stuck.id) in listing and str(fresh.id) not in listing

    out = run("workflows_cancel", "--stuck", "--older-than", "30", "--reason", "no worker")
    assert "Canceled 1 instance(s)" in out
    row = WorkflowInstanceModel.objects.get(pk=stuck.id)
    assert (row.status, row.error) == ("canceled", "Canceled: no worker")
    assert WorkflowInstanceModel.objects.get(pk=fresh.id).status == "running"


def test_workflows_prune__deletes_old_finished_instances_only(default_registry_engine) -> None:
    engine = default_registry_engine
    old = engine.start_workflow_sync(workflow([marker("A")], [], name="ops_prune"))
    recent = engine.start_workflow_sync(workflow([marker("A")], [], name="ops_prune"))
    waiting = engine.start_workflow_sync(workflow([human("H", title="x")], [], name="ops_prune_w"))
    WorkflowInstanceModel.objects.filter(pk__in=[old.id, waiting.id]).update(
        completed_at=timezone.now() - timedelta(days=40)
    )
    assert "Would delete 1 instance(s)." in run("workflows_prune", "--days", "30", "--dry-run")
    assert WorkflowInstanceModel.objects.count() == 3
    assert "Deleted 1 instance(s)." in run("workflows_prune", "--days", "30")
    assert set(WorkflowInstanceModel.objects.values_list("pk", flat=True)) == {
        recent.id,
        waiting.id,
    }
    assert not StepExecutionModel.objects.filter(instance_id=old.id).exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["workflows_retry"], "Name instances by id"),
        (["workflows_retry", "not-a-uuid"], "Invalid instance id"),
        (["workflows_cancel", str(uuid.UUID(int=1))], "No instance with id"),
        (["workflows_prune", "--days", "0"], "must be at least 1"),
        (["workflows_list", "--stuck", "--older-than", "soon"], "not a number of minutes"),
        (["workflows_list", "--failed", "--stuck"], "not allowed with argument"),
    ],
)
def test_operations__bad_arguments(argv, message) -> None:
    with pytest.raises(CommandError, match=message):
        call_command(*argv)


def test_workflows_suspend_and_resume__by_id_and_by_filter(default_registry_engine) -> None:
    engine = default_registry_engine
    wf = workflow([human("H", title="x")], [], name="ops_suspend")
    first, second = engine.start_workflow_sync(wf), engine.start_workflow_sync(wf)
    other = engine.start_workflow_sync(workflow([human("H", title="x")], [], name="ops_other"))
    done = engine.start_workflow_sync(workflow([marker("A")], [], name="ops_suspend"))

    out = run(
        "workflows_suspend", str(first.id), str(done.id), "--reason", "incident", "--by", "ops"
    )

    assert "Suspended 1 instance(s); 1 could not be suspended." in out
    assert "cannot be suspended: it is completed" in out
    row = WorkflowInstanceModel.objects.get(pk=first.id)
    assert row.status == "suspended"
    assert row.metadata["suspensions"][0] == {**row.metadata["suspensions"][0], "by": "ops"}

    out = run("workflows_suspend", "--workflow", "ops_suspend", "--reason", "all of them")
    assert "Suspended 1 instance(s); 0 could not be suspended." in out  # the second
    statuses = dict(WorkflowInstanceModel.objects.values_list("id", "status"))
    assert (statuses[second.id], statuses[other.id]) == ("suspended", "waiting")

    out = run("workflows_resume", "--workflow", "ops_suspend")
    assert "Resumed 2 instance(s); 0 could not be resumed." in out
    assert WorkflowInstanceModel.objects.get(pk=first.id).status == "waiting"
    out = run("workflows_resume", str(first.id))
    assert "Resumed 0 instance(s); 1 could not be resumed." in out and "is not suspended" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["workflows_suspend", "--workflow", "x"], "--reason"),
        (["workflows_suspend", "--workflow", "x", "--reason", " "], "give a reason"),
        (["workflows_suspend", "--reason", "x"], "Name instances by id"),
        (["workflows_resume", str(uuid.UUID(int=1))], "No instance with id"),
        (["workflows_resume", "--status", "asleep"], "invalid choice"),
    ],
)
def test_workflows_suspend_and_resume__bad_arguments(argv, message) -> None:
    with pytest.raises(CommandError, match=message):
        call_command(*argv)


def _reviewed() -> type:
    """Draft (human) -> Review (human, may send back to Draft)."""
    review = human("Review", title="Review")
    review.send_back_to = ["Draft"]
    return workflow(
        [human("Draft", title="Draft"), review], [Edge("Draft", "Review")], name="ops_rework"
    )


def _pending(instance_id, step: str):
    return HumanTaskModel.objects.get(instance_id=instance_id, step_name=step, status="pending")


def test_workflows_send_back__sends_the_task_back_to_the_earlier_step(
    default_registry_engine,
) -> None:
    engine = default_registry_engine
    started = engine.start_workflow_sync(_reviewed())
    engine.complete_task_sync(_pending(started.id, "Draft").pk, "ann", {})
    review = _pending(started.id, "Review")

    out = run(
        "workflows_send_back", str(review.pk), "--to", "Draft", "--reason", "redo", "--by", "ops"
    )

    assert f"Sent task {review.pk} back to 'Draft'; instance {started.id} is waiting." in out
    review.refresh_from_db()
    assert review.status == "canceled"
    redo = _pending(started.id, "Draft")
    assert redo.assignee_id == "ann"
    [entry] = WorkflowInstanceModel.objects.get(pk=started.id).metadata["sent_back"]
    assert (entry["to_step"], entry["reason"], entry["by"]) == ("Draft", "redo", "ops")


def test_workflows_send_back__refusals_are_command_errors_and_change_nothing(
    default_registry_engine,
) -> None:
    engine = default_registry_engine
    started = engine.start_workflow_sync(_reviewed())
    draft = _pending(started.id, "Draft")
    engine.complete_task_sync(draft.pk, "ann", {})
    review = _pending(started.id, "Review")
    before = snapshot()
    refusals = [
        ([str(uuid.UUID(int=1)), "--to", "Draft", "--reason", "x"], "not found"),
        (["not-a-uuid", "--to", "Draft", "--reason", "x"], "not found"),
        ([str(draft.pk), "--to", "Draft", "--reason", "x"], "already completed"),
        ([str(review.pk), "--to", "Review", "--reason", "x"], "Review"),
        ([str(review.pk), "--to", "Draft", "--reason", " "], "reason must be a non-empty"),
    ]
    for argv, message in refusals:
        with pytest.raises(CommandError, match=message):
            call_command("workflows_send_back", *argv)
    assert snapshot() == before
    with pytest.raises(CommandError, match="--to"):
        call_command("workflows_send_back", str(review.pk), "--reason", "x")


def test_workflows_withdraw__cancels_for_the_starter_only(default_registry_engine) -> None:
    engine = default_registry_engine
    wf = workflow([human("H", title="x")], [], name="ops_withdraw")
    started = engine.start_workflow_sync(wf, created_by="ann")
    before = snapshot()

    with pytest.raises(CommandError, match=r"only the user who started it \(ann\)"):
        call_command("workflows_withdraw", str(started.id), "--by", "bob")
    assert snapshot() == before

    out = run("workflows_withdraw", str(started.id), "--by", "ann")

    assert f"Withdrew instance {started.id}: it is canceled." in out
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.metadata["withdrawn"][0]["by"]) == ("canceled", "ann")
    with pytest.raises(CommandError, match="it is canceled"):
        call_command("workflows_withdraw", str(started.id), "--by", "ann")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["workflows_withdraw", str(uuid.UUID(int=1)), "--by", "ann"], "not found"),
        (["workflows_withdraw", "not-a-uuid", "--by", "ann"], "not found"),
        (["workflows_withdraw", str(uuid.UUID(int=1))], "--by"),
    ],
)
def test_workflows_withdraw__bad_arguments(argv, message) -> None:
    with pytest.raises(CommandError, match=message):
        call_command(*argv)
