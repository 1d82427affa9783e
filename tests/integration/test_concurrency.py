"""Races between real threads, each with its own database connection (PostgreSQL only).

Each thread stands for a separate request with its own engine; a Barrier releases them
together. Every scenario runs a few rounds, each on a fresh instance.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db import connection

from tests.integration.helpers import Edge, Step, human, marker, workflow
from workflows_app import TaskAlreadyCompletedError, WorkflowAlreadyCompletedError, WorkflowRegistry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.exceptions import WorkflowStateError
from workflows_app.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROUNDS = 3


def race(*jobs: Callable[[], Any]) -> list[Any]:
    """Run ``jobs`` in threads released together; return each result or exception."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(index: int, job: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = job()
        except BaseException as exc:  # reported to the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "a racing thread hung"
    return results


def complete(registry: WorkflowRegistry, *args: Any) -> Callable[[], Any]:
    """A job that completes a task through its own engine (as a separate request would)."""
    return partial(PersistentExecutionEngine(registry).complete_human_task_sync, *args)


def step_rows(instance_id: Any, step_name: str) -> int:
    return StepExecutionModel.objects.filter(instance_id=instance_id, step_name=step_name).count()


def test_same_task_completed_twice_at_once() -> None:
    registry = WorkflowRegistry()
    after = marker("C")
    wf = workflow(
        [marker("A"), human("H"), after], [Edge("A", "H"), Edge("H", "C")], name="race_one"
    )
    registry.register(wf)

    for _ in range(ROUNDS):
        instance = PersistentExecutionEngine(registry).start_workflow_sync(wf)
        results = race(
            *(complete(registry, instance.id, "H", user, {"by": user}) for user in ("u1", "u2"))
        )
        winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, BaseException)]
        assert len(winners) == 1, results
        assert len(losers) == 1, results
        assert isinstance(losers[0], TaskAlreadyCompletedError), repr(losers[0])
        winner = ("u1", "u2")[winners[0]]

        row = WorkflowInstanceModel.objects.get(pk=instance.id)
        assert row.status == "completed"
        assert row.context_data["by"] == winner
        assert row.last_user_id == winner
        assert step_rows(instance.id, "C") == 1
        assert list(
            StepExecutionModel.objects.filter(instance_id=instance.id, step_name="H").values_list(
                "status", "completed_by"
            )
        ) == [("succeeded", winner)]
        assert list(
            HumanTaskModel.objects.filter(instance_id=instance.id).values_list(
                "status", "completed_by"
            )
        ) == [("completed", winner)]
    assert after.calls == ROUNDS


def test_two_branch_tasks_completed_at_once_join_runs_once() -> None:
    registry = WorkflowRegistry()
    join = Step("join", lambda ctx: ctx.set("both", [ctx.get("one"), ctx.get("two")]))
    wf = workflow(
        [marker("start"), human("h1"), human("h2"), join, marker("end")],
        [
            Edge("start", "h1"),
            Edge("start", "h2"),
            Edge("h1", "join"),
            Edge("h2", "join"),
            Edge("join", "end"),
        ],
        name="race_join",
    )
    registry.register(wf)

    for _ in range(ROUNDS):
        instance = PersistentExecutionEngine(registry).start_workflow_sync(wf)
        assert instance.status == "waiting"
        results = race(
            complete(registry, instance.id, "h1", "u1", {"one": 1}),
            complete(registry, instance.id, "h2", "u2", {"two": 2}),
        )
        assert not any(isinstance(r, BaseException) for r in results), results

        row = WorkflowInstanceModel.objects.get(pk=instance.id)
        assert row.status == "completed"
        assert row.tokens == []
        assert row.context_data["both"] == [1, 2]
        assert step_rows(instance.id, "join") == 1
        assert step_rows(instance.id, "end") == 1
        assert sorted(
            StepExecutionModel.objects.filter(
                instance_id=instance.id, step_type="human"
            ).values_list("step_name", "status")
        ) == [("h1", "succeeded"), ("h2", "succeeded")]
        assert set(
            HumanTaskModel.objects.filter(instance_id=instance.id).values_list("status", flat=True)
        ) == {"completed"}
    assert join.calls == ROUNDS


def test_complete_and_cancel_at_once_leave_a_consistent_instance() -> None:
    registry = WorkflowRegistry()
    wf = workflow(
        [marker("A"), human("H"), marker("C")], [Edge("A", "H"), Edge("H", "C")], name="race_cancel"
    )
    registry.register(wf)

    for _ in range(ROUNDS):
        instance = PersistentExecutionEngine(registry).start_workflow_sync(wf)
        completed, canceled = race(
            complete(registry, instance.id, "H", "u1", {}),
            partial(PersistentExecutionEngine(registry).cancel_workflow_sync, instance.id, "race"),
        )
        row = WorkflowInstanceModel.objects.get(pk=instance.id)
        task_status = HumanTaskModel.objects.get(instance_id=instance.id).status
        assert not StepExecutionModel.objects.filter(
            instance_id=instance.id, status="waiting"
        ).exists()
        if row.status == "completed":
            assert isinstance(canceled, WorkflowAlreadyCompletedError), repr(canceled)
            assert not isinstance(completed, BaseException), repr(completed)
            assert task_status == "completed"
            assert step_rows(instance.id, "C") == 1
        else:
            assert row.status == "canceled", row.status
            assert not isinstance(canceled, BaseException), repr(canceled)
            assert row.error == "Canceled: race"
            if isinstance(completed, BaseException):
                # Cancel won: the task was canceled before the submission could use it.
                assert isinstance(completed, (WorkflowStateError, TaskAlreadyCompletedError)), repr(
                    completed
                )
                assert task_status == "canceled"
            else:
                # The submission won, then the cancel stopped the instance before or while C ran.
                assert task_status == "completed"
            assert row.tokens == []


def test_first_start_of_a_new_workflow_from_two_threads() -> None:
    registry = WorkflowRegistry()
    wf = workflow([marker("A")], [], name="race_definition")
    registry.register(wf)
    results = race(
        lambda: PersistentExecutionEngine(registry).start_workflow_sync(wf),
        lambda: PersistentExecutionEngine(registry).start_workflow_sync(wf),
    )
    assert not any(isinstance(r, BaseException) for r in results), results
    assert WorkflowDefinitionModel.objects.filter(name="race_definition").count() == 1
    assert WorkflowInstanceModel.objects.filter(status="completed").count() == 2


def test_branches_completed_at_once_do_not_overwrite_each_others_data() -> None:
    """docs/persistence.rst: one drive at a time runs an instance (its lease); a completion
    made while another drive holds it is committed, and that drive runs its branch on."""
    registry = WorkflowRegistry()
    running = threading.Event()

    def branch_body(key):
        def body(ctx):
            running.set()
            time.sleep(0.05)  # long enough for the other completion to arrive meanwhile
            ctx.set(key, True)

        return body

    join = Step("join", lambda ctx: ctx.set("seen", sorted(k for k in ("x", "y") if ctx.get(k))))
    wf = workflow(
        [
            marker("start"),
            human("h1"),
            human("h2"),
            Step("p1", branch_body("x")),
            Step("p2", branch_body("y")),
            join,
        ],
        [
            Edge("start", "h1"),
            Edge("start", "h2"),
            Edge("h1", "p1"),
            Edge("h2", "p2"),
            Edge("p1", "join"),
            Edge("p2", "join"),
        ],
        name="race_writes",
    )
    registry.register(wf)
    instance = PersistentExecutionEngine(registry).start_workflow_sync(wf, {"keep": 1})
    results = race(
        lambda: PersistentExecutionEngine(registry).complete_human_task_sync(
            instance.id, "h1", "u1", {"one": 1}
        ),
        lambda: PersistentExecutionEngine(registry).complete_human_task_sync(
            instance.id, "h2", "u2", {"two": 2}
        ),
    )
    assert not any(isinstance(r, BaseException) for r in results), results
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert row.status == "completed", (row.error, row.tokens)
    data = row.context_data
    assert {k: data[k] for k in ("keep", "one", "two", "x", "y", "seen")} == {
        "keep": 1,
        "one": 1,
        "two": 2,
        "x": True,
        "y": True,
        "seen": ["x", "y"],
    }
    assert step_rows(instance.id, "join") == 1
    assert step_rows(instance.id, "p1") == step_rows(instance.id, "p2") == 1
    assert running.is_set()


def test_sibling_tasks_of_a_multi_instance_step_answered_at_once_complete_it_once() -> None:
    """Three approvers answer their tasks of a 2-of-3 step at the same instant: two
    answers (or three) are recorded, the step completes exactly once, and what follows it
    runs once."""
    registry = WorkflowRegistry()
    after = marker("C")
    step = human("H", for_each="approvers", completion_condition="approved >= 2")
    wf = workflow([marker("A"), step, after], [Edge("A", "H"), Edge("H", "C")], name="race_mi")
    registry.register(wf)

    for _ in range(ROUNDS):
        instance = PersistentExecutionEngine(registry).start_workflow_sync(
            wf, {"approvers": ["u1", "u2", "u3"]}
        )
        tasks = list(HumanTaskModel.objects.filter(instance_id=instance.id).order_by("multi_index"))
        jobs = [
            partial(
                PersistentExecutionEngine(registry).complete_task_sync,
                task.pk,
                f"u{task.multi_index + 1}",
                {"approved": True},
            )
            for task in tasks
        ]
        results = race(*jobs)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert all(isinstance(e, WorkflowStateError) for e in errors), results
        assert len(errors) <= 1, results

        row = WorkflowInstanceModel.objects.get(pk=instance.id)
        assert row.status == "completed"
        answered = [entry for entry in row.context_data["H_results"] if entry is not None]
        assert len(answered) == 3 - len(errors)
        assert step_rows(instance.id, "C") == 1
        assert list(
            StepExecutionModel.objects.filter(instance_id=instance.id, step_name="H").values_list(
                "status", flat=True
            )
        ) == ["succeeded"]
        statuses = sorted(
            HumanTaskModel.objects.filter(instance_id=instance.id).values_list("status", flat=True)
        )
        assert statuses == sorted(["completed"] * len(answered) + ["canceled"] * len(errors))
    assert after.calls == ROUNDS
