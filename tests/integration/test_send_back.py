"""Sending a task back for rework (the engine): the task is canceled with the reason, the
earlier step runs again as a new execution, a task it makes goes to whoever completed it
last with the reason on it; what the graph or the instance does not allow is refused and
changes nothing."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from tests.integration.helpers import Edge, executions, human, marker, snapshot, tasks, workflow
from tests.integration.test_concurrency import race
from workflows_app import (
    ParallelGateway,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    WorkflowRegistry,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core.steps import BaseHumanStep
from workflows_app.core.types import StepStatus, TaskStatus, WorkflowStatus
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.engine.worker import Worker
from workflows_app.models import WorkflowInstanceModel
from workflows_app.signals import workflow_sent_back

pytestmark = pytest.mark.django_db


def reviewer(name: str, *back: str) -> BaseHumanStep:
    step = human(name)
    step.send_back_to = list(back)
    return step


def drafted(*back: str) -> type:
    """A (machine) -> Draft (human) -> Prepare (machine) -> Review (human) -> B."""
    steps = [marker("A"), human("Draft"), marker("Prepare"), reviewer("Review", *back)]
    edges = [Edge("A", "Draft"), Edge("Draft", "Prepare"), Edge("Prepare", "Review")]
    return workflow([*steps, marker("B")], [*edges, Edge("Review", "B")])


def pending(instance_id: Any, step: str) -> Any:
    [task] = [t for t in tasks(instance_id, step) if t.status == TaskStatus.PENDING]
    return task


def test_send_back__to_a_human_step_goes_to_its_last_completer_with_the_reason(
    engine, committed
) -> None:
    started = engine.start_workflow_sync(drafted("Draft", "Prepare"))
    engine.complete_task_sync(pending(started.id, "Draft").pk, "ann", {"text": "v1"})
    review = pending(started.id, "Review")
    heard: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs)

    workflow_sent_back.connect(receiver)
    try:
        with committed():
            sent = engine.send_back_sync(review.pk, "Draft", "the totals are wrong", by="bob")
    finally:
        workflow_sent_back.disconnect(receiver)

    assert sent.status == WorkflowStatus.WAITING
    review.refresh_from_db()
    assert review.status == TaskStatus.CANCELED
    assert review.activity[-1]["reason"] == "sent back to 'Draft': the totals are wrong"
    first, second = tasks(started.id, "Draft")
    assert (first.status, second.status) == (TaskStatus.COMPLETED, TaskStatus.PENDING)
    assert second.assignee_id == "ann"
    [entry] = second.activity
    assert (entry["action"], entry["from_step"], entry["by"]) == ("sent_back", "Review", "bob")
    assert entry["reason"] == "the totals are wrong"
    # both executions of Draft are kept, and the wait of Review is recorded as canceled
    assert [e.status for e in executions(started.id, "Draft")] == ["succeeded", "waiting"]
    [canceled] = executions(started.id, "Review")
    assert canceled.status == StepStatus.CANCELED
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    [audit] = row.metadata["sent_back"]
    assert (audit["from_step"], audit["to_step"], audit["by"]) == ("Review", "Draft", "bob")
    assert (row.lease_owner, row.status) == (None, "waiting")
    assert [h["event"] for h in heard] == ["workflow.sent_back"]
    assert (heard[0]["task_id"], heard[0]["reason"]) == (str(review.pk), "the totals are wrong")

    # the rework runs on as usual: Prepare and Review again
    engine.complete_task_sync(second.pk, "ann", {"text": "v2"})
    done = engine.complete_task_sync(pending(started.id, "Review").pk, "bob", {})
    assert done.status == WorkflowStatus.COMPLETED
    assert [e.status for e in executions(started.id, "Prepare")] == ["succeeded", "succeeded"]
    assert done.context.data["text"] == "v2"


def test_send_back__to_a_machine_step_runs_it_again(engine) -> None:
    started = engine.start_workflow_sync(drafted("Prepare"))
    engine.complete_task_sync(pending(started.id, "Draft").pk, "ann", {})
    review = pending(started.id, "Review")

    sent = engine.send_back_sync(review.pk, "Prepare", "recompute", by="bob")

    assert sent.status == WorkflowStatus.WAITING
    assert len(executions(started.id, "Prepare")) == 2
    again = pending(started.id, "Review")
    assert again.pk != review.pk
    assert again.assignee_id is None  # the default assignment: only to_step's task is sent
    assert [t.status for t in tasks(started.id, "Draft")] == [TaskStatus.COMPLETED]


def test_send_back__a_claimed_task_can_be_sent_back(engine) -> None:
    started = engine.start_workflow_sync(drafted("Draft"))
    engine.complete_task_sync(pending(started.id, "Draft").pk, "ann", {})
    review = pending(started.id, "Review")
    engine.claim_task_sync(review.pk, "bob")
    engine.send_back_sync(review.pk, "Draft", "again", by="bob")
    assert pending(started.id, "Draft").assignee_id == "ann"


@pytest.mark.parametrize(("to_step", "reason"), [("Draft", ""), ("Draft", 3), (None, "why")])
def test_send_back__bad_arguments_change_nothing(engine, to_step, reason) -> None:
    started = engine.start_workflow_sync(drafted("Draft"))
    engine.complete_task_sync(pending(started.id, "Draft").pk, "ann", {})
    before = snapshot()
    with pytest.raises(WorkflowValidationError):
        engine.send_back_sync(pending(started.id, "Review").pk, to_step, reason, by="bob")
    assert snapshot() == before


def test_send_back__a_task_that_is_not_pending_is_refused(engine) -> None:
    started = engine.start_workflow_sync(drafted("Draft"))
    draft = pending(started.id, "Draft")
    engine.complete_task_sync(draft.pk, "ann", {})
    review = pending(started.id, "Review")
    engine.complete_task_sync(review.pk, "bob", {})
    with pytest.raises(TaskAlreadyCompletedError):
        engine.send_back_sync(review.pk, "Draft", "late", by="bob")
    with pytest.raises(TaskNotFoundError):
        engine.send_back_sync("not-a-task", "Draft", "why", by="bob")


def test_send_back__a_suspended_or_canceled_instance_is_refused(engine) -> None:
    started = engine.start_workflow_sync(drafted("Draft"))
    engine.complete_task_sync(pending(started.id, "Draft").pk, "ann", {})
    review = pending(started.id, "Review")
    engine.suspend_sync(started.id, "incident", by="ops")
    before = snapshot()
    with pytest.raises(WorkflowStateError, match="suspended"):
        engine.send_back_sync(review.pk, "Draft", "why", by="bob")
    assert snapshot() == before
    engine.cancel_workflow_sync(started.id, "stop")
    with pytest.raises(WorkflowStateError, match="canceled"):
        engine.send_back_sync(review.pk, "Draft", "why", by="bob")


def test_send_back__across_a_parallel_split_or_join_is_refused_at_registration(
    engine,
) -> None:
    # S forks into H1 and X; J joins them. H1 may not go back to S (a fork), J's task may
    # not go back to H1 (it would cross the join).
    def parallel(step: BaseHumanStep, join: BaseHumanStep) -> type:
        split = ParallelGateway(name="S", branches=["H1", "X"])
        return workflow(
            [marker("A"), split, step, marker("X"), join],
            [Edge("A", "S"), Edge("H1", "J"), Edge("X", "J")],
        )

    with pytest.raises(WorkflowValidationError, match="parallel split or join"):
        engine.start_workflow_sync(parallel(reviewer("H1", "A"), human("J")))
    with pytest.raises(WorkflowValidationError, match="parallel split or join"):
        engine.start_workflow_sync(parallel(human("H1"), reviewer("J", "H1")))
    with pytest.raises(WorkflowValidationError, match="not an earlier step"):
        engine.start_workflow_sync(drafted("B"))
    with pytest.raises(WorkflowValidationError, match="unknown step 'Nope'"):
        engine.start_workflow_sync(drafted("Nope"))


def test_send_back__through_a_rework_loop_and_an_exclusive_choice(engine) -> None:
    # Review -> Draft is also an edge (a loop back): Draft is no join for that.
    steps = [marker("A"), human("Draft"), marker("Prepare"), reviewer("Review", "A"), marker("B")]
    edges = [
        Edge("A", "Draft"),
        Edge("Draft", "Prepare"),
        Edge("Prepare", "Review"),
        Edge("Review", "Draft", condition="again == True"),
        Edge("Review", "B", condition="again != True"),
    ]
    started = engine.start_workflow_sync(workflow(steps, edges))
    engine.complete_task_sync(pending(started.id, "Draft").pk, "ann", {"again": False})
    engine.send_back_sync(pending(started.id, "Review").pk, "A", "from the start", by="bob")
    assert len(executions(started.id, "A")) == 2
    assert pending(started.id, "Draft").assignee_id is None  # to_step is A, not Draft
    assert len(tasks(started.id, "Draft")) == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
async def test_send_back__async_twin(engine) -> None:
    started = await engine.start_workflow(drafted("Draft"))
    draft = await sync_to_async(pending)(started.id, "Draft")
    await engine.complete_task(draft.pk, "ann", {})
    review = await sync_to_async(pending)(started.id, "Review")
    sent = await engine.send_back(review.pk, "Draft", "again", by="bob")
    assert sent.status == WorkflowStatus.WAITING


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_send_back__racing_a_completion_of_the_same_task_one_wins() -> None:
    registry = WorkflowRegistry()
    wf = drafted("Draft")
    registry.register(wf)
    outcomes = set()
    for _ in range(4):
        started = PersistentExecutionEngine(registry).start_workflow_sync(wf)
        engine = PersistentExecutionEngine(registry)
        engine.complete_task_sync(pending(started.id, "Draft").pk, "ann", {})
        review = pending(started.id, "Review")
        completed, sent = race(
            partial(PersistentExecutionEngine(registry).complete_task_sync, review.pk, "bob", {}),
            partial(
                PersistentExecutionEngine(registry).send_back_sync,
                review.pk,
                "Draft",
                "race",
                "bob",
            ),
        )
        errors = [r for r in (completed, sent) if isinstance(r, BaseException)]
        assert len(errors) == 1, (completed, sent)
        assert isinstance(errors[0], WorkflowStateError | TaskAlreadyCompletedError), errors
        row = WorkflowInstanceModel.objects.get(pk=started.id)
        review.refresh_from_db()
        assert row.lease_owner is None
        if errors[0] is sent:  # the completion won
            outcomes.add("completed")
            assert (row.status, review.status) == ("completed", TaskStatus.COMPLETED)
            assert len(tasks(started.id, "Draft")) == 1
            assert "sent_back" not in row.metadata
        else:
            outcomes.add("sent back")
            assert (row.status, review.status) == ("waiting", TaskStatus.CANCELED)
            assert pending(started.id, "Draft").assignee_id == "ann"
            assert [e.status for e in executions(started.id, "Review")] == ["canceled"]
            assert len(row.metadata["sent_back"]) == 1


@override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"})
def test_send_back__in_worker_mode_a_worker_runs_the_step_again(engine) -> None:
    started = engine.start_workflow_sync(drafted("Draft"))
    Worker(engine, burst=True).run()
    engine.complete_task_sync(pending(started.id, "Draft").pk, "ann", {})
    Worker(engine, burst=True).run()
    review = pending(started.id, "Review")

    sent = engine.send_back_sync(review.pk, "Draft", "again", by="bob")

    assert sent.status == WorkflowStatus.RUNNING  # the branch is ready at Draft: a worker's
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.lease_owner, row.wake_at is not None) == (None, True)
    Worker(engine, burst=True).run()
    again = pending(started.id, "Draft")
    assert again.assignee_id == "ann"
    assert again.activity[0]["reason"] == "again"
    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "waiting"
