"""The engine's task operations by task id: complete_task, claim_task, release_task, reassign
(with the activity each records and the event each sends)."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.integration.helpers import Edge, human, marker, tasks, workflow
from workflows_app import TaskAlreadyCompletedError, TaskNotFoundError
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.exceptions import TaskValidationError, WorkflowStateError
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db

SCHEMA = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}},
    "required": ["approved"],
}


def review(**human_kwargs):
    return workflow(
        [marker("A"), human("H", form_schema=SCHEMA, **human_kwargs), marker("C")],
        [Edge("A", "H"), Edge("H", "C")],
        name="review",
    )


def started_task(engine, data=None, **human_kwargs) -> HumanTaskModel:
    instance = engine.start_workflow_sync(review(**human_kwargs), data)
    [task] = tasks(instance.id, "H")
    return task


def test_complete_task__resumes_the_instance_and_records_the_comment(engine, bus, committed):
    task = started_task(engine, assignee_group="team")

    with committed():
        done = engine.complete_task_sync(task.pk, "ann", {"approved": True}, comment="Looks right")

    assert done.status == "completed"
    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("completed", "ann")
    [entry] = task.activity
    assert entry["action"] == "completed"
    assert (entry["by"], entry["comment"]) == ("ann", "Looks right")
    [completed] = bus.of("task.completed")
    assert (completed["task_id"], completed["completed_by"]) == (task.pk, "ann")


def test_complete_task__without_a_comment_records_no_activity(engine) -> None:
    task = started_task(engine)

    engine.complete_task_sync(str(task.pk), "ann", {"approved": False})

    task.refresh_from_db()
    assert task.status == "completed"
    assert task.activity == []


def test_complete_task__invalid_data_changes_nothing(engine) -> None:
    task = started_task(engine)

    with pytest.raises(TaskValidationError):
        engine.complete_task_sync(task.pk, "ann", {"approved": "yes"}, comment="no")

    task.refresh_from_db()
    assert (task.status, task.activity) == ("pending", [])
    assert WorkflowInstanceModel.objects.get(pk=task.instance_id).status == "waiting"


def test_complete_task__given_the_row__does_not_read_it_again(engine) -> None:
    task = started_task(engine)

    with CaptureQueriesContext(connection) as queries:
        done = engine.complete_task_sync(task, "ann", {"approved": True})

    assert done.status == "completed"
    by_id = [q["sql"] for q in queries if 'WHERE "workflow_human_tasks"."id" =' in q["sql"]]
    assert by_id == []


def test_complete_task__a_stale_row__completed_meanwhile(engine) -> None:
    """The row says pending, but the task was completed since it was read: the engine's
    own check, when it saves, refuses."""
    task = started_task(engine)
    engine.complete_task_sync(task.pk, "bob", {"approved": True})
    assert task.status == "pending"  # the row read before

    with pytest.raises(TaskAlreadyCompletedError):
        engine.complete_task_sync(task, "ann", {"approved": False})

    task.refresh_from_db()
    assert task.completed_by == "bob"


def test_complete_task__a_row_already_completed__refused(engine) -> None:
    task = started_task(engine)
    engine.complete_task_sync(task.pk, "bob", {"approved": True})
    task.refresh_from_db()

    with pytest.raises(TaskAlreadyCompletedError):
        engine.complete_task_sync(task, "ann", {"approved": False})


@pytest.mark.parametrize("task_id", [uuid.uuid4(), "not-a-uuid", None])
def test_task_operations__unknown_ids_raise_task_not_found(engine, task_id) -> None:
    with pytest.raises(TaskNotFoundError):
        engine.complete_task_sync(task_id, "ann", {"approved": True})
    with pytest.raises(TaskNotFoundError):
        engine.claim_task_sync(task_id, "ann")
    with pytest.raises(TaskNotFoundError):
        engine.release_task_sync(task_id, "ann")


def test_complete_task__twice_raises_task_already_completed(engine) -> None:
    task = started_task(engine)
    engine.complete_task_sync(task.pk, "ann", {"approved": True})

    with pytest.raises(TaskAlreadyCompletedError):
        engine.complete_task_sync(task.pk, "bob", {"approved": True})


def test_complete_task__an_old_task_of_a_step_waiting_again_is_already_completed(engine) -> None:
    """The step loops back and waits at a new execution: the first task is done, whatever
    the step's state (this went through the 'step no longer waiting' path)."""
    wf = workflow(
        [marker("A"), human("H"), marker("revise"), marker("done")],
        [
            Edge("A", "H"),
            Edge("H", "revise", "not approved"),
            Edge("revise", "H"),
            Edge("H", "done", "approved"),
        ],
        name="loop",
    )
    started = engine.start_workflow_sync(wf)
    [first] = tasks(started.id, "H")
    engine.complete_task_sync(first.pk, "ann", {"approved": False})
    assert [task.status for task in tasks(started.id, "H")] == ["completed", "pending"]

    with pytest.raises(TaskAlreadyCompletedError):
        engine.complete_task_sync(first.pk, "bob", {"approved": True})

    assert [task.status for task in tasks(started.id, "H")] == ["completed", "pending"]


def test_canceled_task__cannot_be_completed_claimed_or_released(engine) -> None:
    task = started_task(engine, assignee_group="team")
    engine.cancel_workflow_sync(task.instance_id, "stop")

    for operation in (
        lambda: engine.complete_task_sync(task.pk, "ann", {"approved": True}),
        lambda: engine.claim_task_sync(task.pk, "ann"),
        lambda: engine.release_task_sync(task.pk, "ann"),
        lambda: engine.reassign_task_sync(task.pk, assignee_id="bob"),
    ):
        with pytest.raises(WorkflowStateError, match="canceled"):
            operation()


def test_claim__takes_an_unassigned_task_and_records_it(engine, committed) -> None:
    task = started_task(engine, assignee_group="team")
    heard = []
    from workflows_app import signals

    def receiver(sender, **kwargs):
        heard.append(kwargs)

    signals.task_claimed.connect(receiver)
    try:
        with committed():
            claimed = engine.claim_task_sync(task.pk, "ann")
    finally:
        signals.task_claimed.disconnect(receiver)

    assert claimed.assignee_id == "ann"
    task.refresh_from_db()
    assert (task.assignee_id, task.assignee_group) == ("ann", "team")
    [entry] = task.activity
    assert {key: entry[key] for key in ("action", "by", "from_assignee", "to_assignee")} == {
        "action": "claimed",
        "by": "ann",
        "from_assignee": None,
        "to_assignee": "ann",
    }
    assert StepExecutionModel.objects.get(pk=task.step_execution_id).assigned_to == "ann"
    [event] = heard
    assert (event["task_id"], event["claimed_by"], event["to_assignee"]) == (task.pk, "ann", "ann")


def test_claim__again_by_the_holder_changes_nothing(engine) -> None:
    task = started_task(engine, assignee_group="team")
    engine.claim_task_sync(task.pk, "ann")

    engine.claim_task_sync(task.pk, "ann")

    task.refresh_from_db()
    assert len(task.activity) == 1


def test_claim__a_task_someone_holds_is_a_conflict(engine) -> None:
    task = started_task(engine, assignee_group="team")
    engine.claim_task_sync(task.pk, "ann")

    with pytest.raises(WorkflowStateError, match="already claimed by 'ann'"):
        engine.claim_task_sync(task.pk, "bob")

    task.refresh_from_db()
    assert task.assignee_id == "ann"


def test_release__gives_the_task_back_to_its_group(engine) -> None:
    task = started_task(engine, assignee_group="team")
    engine.claim_task_sync(task.pk, "ann")

    released = engine.release_task_sync(task.pk, "ann")

    assert released.assignee_id is None
    task.refresh_from_db()
    assert (task.assignee_id, task.assignee_group) == (None, "team")
    assert [entry["action"] for entry in task.activity] == ["claimed", "released"]
    assert StepExecutionModel.objects.get(pk=task.step_execution_id).assigned_to is None


def test_release__an_unclaimed_task_or_one_without_a_group_is_a_conflict(engine) -> None:
    unclaimed = started_task(engine, assignee_group="team")
    with pytest.raises(WorkflowStateError, match="not claimed"):
        engine.release_task_sync(unclaimed.pk, "ann")

    direct = started_task(engine, {"who": "ann"}, assignee_key="who")
    with pytest.raises(WorkflowStateError, match="no group"):
        engine.release_task_sync(direct.pk, "ann")
    direct.refresh_from_db()
    assert direct.assignee_id == "ann"


def test_reassign__records_the_reason_in_the_activity(engine) -> None:
    task = started_task(engine, assignee_group="team")

    engine.reassign_task_sync(
        task.pk, assignee_id="bob", reason="Ann is away", reassigned_by="lead"
    )

    task.refresh_from_db()
    [entry] = task.activity
    assert (entry["action"], entry["by"], entry["reason"]) == ("reassigned", "lead", "Ann is away")
    assert (entry["to_assignee"], entry["to_group"]) == ("bob", "team")


def _race(engine, task: HumanTaskModel) -> list[object]:
    """Complete ``task`` from two threads at once; return what each got."""
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def complete(user: str) -> None:
        try:
            barrier.wait()
            engine.complete_task_sync(task.pk, user, {"approved": True})
            outcomes.append("done")
        except Exception as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=complete, args=(user,)) for user in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_complete_task__two_threads_one_wins_the_other_is_told_already_completed(registry):
    """Whichever way the loser reads the winner's commit, it gets TaskAlreadyCompletedError."""
    engine = PersistentExecutionEngine(registry)
    for _ in range(6):
        task = started_task(engine)

        outcomes = _race(engine, task)

        assert outcomes.count("done") == 1, outcomes
        [error] = [outcome for outcome in outcomes if outcome != "done"]
        assert isinstance(error, TaskAlreadyCompletedError), error
        ran_after = StepExecutionModel.objects.filter(instance_id=task.instance_id, step_name="C")
        assert ran_after.count() == 1
