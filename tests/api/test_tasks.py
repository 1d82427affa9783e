"""The task inbox and the task operations: GET /tasks, complete, claim, release, reassign."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.helpers import (
    UPSTREAM_TASK_FIELDS,
    assert_error,
    executions,
    locations,
    row_counts,
    start,
    task_of,
)
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel


@pytest.fixture
def alice(make_caller):
    """A reviewer who starts and cancels workflows."""
    return make_caller("alice", groups=["reviewers"], perms=["start_workflow", "cancel_workflow"])


@pytest.fixture
def bob(make_caller):
    """Another reviewer."""
    return make_caller("bob", groups=["reviewers"])


def ids(answer) -> list[str]:
    assert answer.status_code == 200, answer
    return [task["id"] for task in answer.json()]


def test_inbox__offers_a_group_task_to_members_only(client, alice, make_caller) -> None:
    started = start(client, alice)
    outsider = make_caller("olga", groups=["editors"])
    answer = client.get("/tasks", alice)
    assert answer.status_code == 200, answer
    [task] = answer.json()
    assert UPSTREAM_TASK_FIELDS <= set(task)
    assert task["instance_id"] == started["id"]
    assert task["step_name"] == "review"
    assert task["title"] == "Review the document"
    assert task["description"] == "Read it, score it, approve or reject it."
    assert task["assignee"] is None
    assert task["assignee_group"] == "reviewers"
    assert task["status"] == "pending"
    assert task["priority"] == 5
    assert task["form_schema"]["required"] == ["approved"]
    assert task["due_date"] is not None and task["due_date"] > task["created_at"]
    assert task["is_overdue"] is False
    assert task["activity"] == []
    assert ids(client.get("/tasks", outsider)) == []
    assert ids(client.get("/tasks?scope=offered", alice)) == [task["id"]]


def test_inbox__scopes(client, alice, bob, make_caller) -> None:
    review = task_of(start(client, alice))
    sign = task_of(start(client, alice, "api_assigned", input_data={"signer": "bob"}))
    assert (sign.assignee_id, sign.assignee_group) == ("bob", None)
    assert sorted(ids(client.get("/tasks", bob))) == sorted([str(review.pk), str(sign.pk)])
    assert ids(client.get("/tasks?scope=assigned", bob)) == [str(sign.pk)]
    assert ids(client.get("/tasks?scope=groups", bob)) == [str(review.pk)]
    assert ids(client.get("/tasks?scope=offered", alice)) == [str(review.pk)]
    assert_error(client.get("/tasks?scope=all", bob), 403, "forbidden")
    viewer = make_caller("vera", perms=["view_humantaskmodel"])
    closer = make_caller("carl", perms=["complete_any_task"])
    for caller in (viewer, closer):
        everything = ids(client.get("/tasks?scope=all", caller))
        assert sorted(everything) == sorted([str(review.pk), str(sign.pk)])


def test_inbox__status_filter(client, alice) -> None:
    pending = task_of(start(client, alice))
    done = task_of(start(client, alice))
    canceled = task_of(start(client, alice))
    completed = client.post(
        f"/tasks/{done.pk}/complete", alice, json={"output_data": {"approved": True}}
    )
    assert completed.status_code == 201, completed
    assert client.post(f"/instances/{canceled.instance_id}/cancel", alice).status_code == 201
    assert ids(client.get("/tasks", alice)) == [str(pending.pk)]
    assert ids(client.get("/tasks?status=pending", alice)) == [str(pending.pk)]
    assert ids(client.get("/tasks?status=completed", alice)) == [str(done.pk)]
    assert ids(client.get("/tasks?status=canceled", alice)) == [str(canceled.pk)]
    every = ids(client.get("/tasks?status=any", alice))
    assert sorted(every) == sorted(str(task.pk) for task in (pending, done, canceled))
    [finished] = client.get("/tasks?status=completed", alice).json()
    assert (finished["status"], finished["completed_by"]) == ("completed", "alice")


def test_task_of_a_failed_instance__on_hold__out_of_the_inbox_and_409(client, alice) -> None:
    started = start(client, alice)
    task = task_of(started)
    # What the engine does when an instance fails while one of its tasks waits
    # (tests/integration/test_failed_instance_tasks.py).
    WorkflowInstanceModel.objects.filter(pk=started["id"]).update(status="failed")
    HumanTaskModel.objects.filter(pk=task.pk).update(status="on_hold")

    assert ids(client.get("/tasks", alice)) == []
    assert ids(client.get("/tasks?status=on_hold", alice)) == [str(task.pk)]
    assert ids(client.get("/tasks?status=any", alice)) == [str(task.pk)]
    for action, body in (("complete", {"output_data": {"approved": True}}), ("claim", None)):
        answer = client.post(f"/tasks/{task.pk}/{action}", alice, json=body)
        error = assert_error(answer, 409, "conflict")
        assert "on hold" in error["detail"]
    task.refresh_from_db()
    assert (task.status, task.assignee_id) == ("on_hold", None)


def test_inbox__overdue_filter(client, alice) -> None:
    late = task_of(start(client, alice))
    on_time = task_of(start(client, alice))
    HumanTaskModel.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(hours=1))
    answer = client.get("/tasks?overdue=true", alice)
    assert ids(answer) == [str(late.pk)]
    assert answer.json()[0]["is_overdue"] is True
    answer = client.get("/tasks?overdue=false", alice)
    assert ids(answer) == [str(on_time.pk)]
    assert answer.json()[0]["is_overdue"] is False
    # Without the filter both are listed, the overdue one first (earliest due).
    assert ids(client.get("/tasks", alice)) == [str(late.pk), str(on_time.pk)]


def test_inbox__filters_by_workflow_and_instance_and_orders(client, alice) -> None:
    first = task_of(start(client, alice))
    sign = task_of(start(client, alice, "api_assigned", input_data={"signer": "alice"}))
    second = task_of(start(client, alice))
    HumanTaskModel.objects.filter(pk=first.pk).update(due_at=timezone.now() + timedelta(days=3))
    assert ids(client.get("/tasks?workflow_name=api_assigned", alice)) == [str(sign.pk)]
    assert sorted(ids(client.get("/tasks?workflow_name=api_review", alice))) == sorted(
        [str(first.pk), str(second.pk)]
    )
    assert ids(client.get(f"/tasks?instance_id={second.instance_id}", alice)) == [str(second.pk)]
    created = [str(first.pk), str(sign.pk), str(second.pk)]
    assert ids(client.get("/tasks?ordering=created_at", alice)) == created
    assert ids(client.get("/tasks?ordering=-created_at", alice)) == created[::-1]
    # Earliest due first, tasks without a due date last; then by priority, higher first.
    by_due = ids(client.get("/tasks?ordering=due_at", alice))
    assert by_due[:2] == [str(second.pk), str(first.pk)]
    by_priority = ids(client.get("/tasks?ordering=-priority", alice))
    assert by_priority[2] == str(sign.pk)  # priority 0, after both reviews (priority 5)
    assert by_priority[:2] == [str(second.pk), str(first.pk)]


def test_inbox__pages_with_the_total_in_a_header(client, alice) -> None:
    started = [str(task_of(start(client, alice)).pk) for _ in range(3)]
    # The total is counted on request (count=true): counting a big inbox costs.
    first = client.get("/tasks?limit=2&ordering=created_at&count=true", alice)
    second = client.get("/tasks?limit=2&offset=2&ordering=created_at&count=true", alice)
    assert (first.headers["X-Total-Count"], second.headers["X-Total-Count"]) == ("3", "3")
    assert ids(first) + ids(second) == started


def test_get_task__one_the_caller_sees(client, alice, make_caller) -> None:
    task = task_of(start(client, alice))
    answer = client.get(f"/tasks/{task.pk}", alice)
    assert answer.status_code == 200, answer
    body = answer.json()
    assert (body["id"], body["step_name"], body["status"]) == (str(task.pk), "review", "pending")
    assert body["instance_id"] == str(task.instance_id)
    outsider = make_caller("olga", groups=["editors"])
    assert_error(client.get(f"/tasks/{task.pk}", outsider), 404, "task_not_found")


def test_complete__answers_the_instance_as_it_now_stands(client, alice, bob) -> None:
    started = start(client, alice)
    task = task_of(started)
    answer = client.post(
        f"/tasks/{task.pk}/complete", bob, json={"output_data": {"approved": True, "score": 4}}
    )
    assert answer.status_code == 201, answer
    body = answer.json()
    assert body["id"] == started["id"]
    assert body["definition_name"] == "api_review"
    assert body["status"] == "completed"  # not upstream's placeholder "RUNNING"
    assert body["current_step"] is None
    assert body["created_by"] == "alice"
    assert body["completed_at"] is not None
    detail = client.get(f"/instances/{started['id']}", alice).json()
    assert detail["context_data"]["published"] is True
    assert detail["context_data"]["score"] == 4
    assert [s["step_name"] for s in detail["step_history"]] == ["prepare", "review", "publish"]
    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("completed", "bob")


def test_complete__invalid_data_is_422_and_changes_nothing(client, alice) -> None:
    started = start(client, alice)
    task = task_of(started)
    before = row_counts()
    answer = client.post(
        f"/tasks/{task.pk}/complete",
        alice,
        json={"output_data": {"approved": True, "score": 9, "notes": "x" * 201}},
    )
    body = assert_error(answer, 422, "invalid_task_data")
    assert sorted(locations(body)) == [
        ["body", "output_data", "notes"],
        ["body", "output_data", "score"],
    ]
    assert {error["type"] for error in body["errors"]} == {"form_schema"}
    missing = client.post(f"/tasks/{task.pk}/complete", alice, json={"output_data": {"score": 2}})
    assert_error(missing, 422, "invalid_task_data")
    assert row_counts() == before
    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("pending", None)
    row = WorkflowInstanceModel.objects.get(pk=started["id"])
    assert (row.status, row.current_step) == ("waiting", "review")
    assert "score" not in row.context_data
    assert StepExecutionModel.objects.get(instance_id=started["id"], step_name="review").status == (
        "waiting"
    )


def test_complete__twice_is_409(client, alice, bob) -> None:
    started = start(client, alice)
    task = task_of(started)
    first = client.post(
        f"/tasks/{task.pk}/complete", alice, json={"output_data": {"approved": True}}
    )
    assert first.status_code == 201, first
    again = client.post(
        f"/tasks/{task.pk}/complete", alice, json={"output_data": {"approved": False}}
    )
    assert_error(again, 409, "task_already_completed")
    # Bob, another reviewer (the task was offered to him too), gets the same conflict.
    other = client.post(f"/tasks/{task.pk}/complete", bob, json={"output_data": {"approved": True}})
    assert_error(other, 409, "task_already_completed")
    assert executions(started["id"], "publish") == 1
    assert executions(started["id"], "archive") == 0
    assert WorkflowInstanceModel.objects.get(pk=started["id"]).context_data["published"] is True


def test_complete__the_comment_is_recorded_in_the_activity(client, alice) -> None:
    task = task_of(start(client, alice))
    answer = client.post(
        f"/tasks/{task.pk}/complete",
        alice,
        json={"output_data": {"approved": False}, "comment": "too long", "completed_by": "alice"},
    )
    assert answer.status_code == 201, answer
    [entry] = client.get(f"/tasks/{task.pk}", alice).json()["activity"]
    assert (entry["action"], entry["by"], entry["comment"]) == ("completed", "alice", "too long")
    assert WorkflowInstanceModel.objects.get(pk=task.instance_id).context_data["published"] is False


def test_complete__as_someone_else_is_403(client, alice) -> None:
    task = task_of(start(client, alice))
    answer = client.post(
        f"/tasks/{task.pk}/complete",
        alice,
        json={"output_data": {"approved": True}, "completed_by": "mallory"},
    )
    assert_error(answer, 403, "forbidden")
    task.refresh_from_db()
    assert task.status == "pending"


def test_claim__makes_the_task_the_callers(client, alice, bob) -> None:
    task = task_of(start(client, alice))
    answer = client.post(f"/tasks/{task.pk}/claim", alice)
    assert answer.status_code == 201, answer
    body = answer.json()
    assert (body["assignee"], body["assignee_group"]) == ("alice", "reviewers")
    [entry] = body["activity"]
    assert (entry["action"], entry["by"], entry["to_assignee"]) == ("claimed", "alice", "alice")
    again = client.post(f"/tasks/{task.pk}/claim", alice)
    assert again.status_code == 201, again
    assert again.json()["assignee"] == "alice"
    assert len(again.json()["activity"]) == 1  # claiming one's own task changes nothing
    task.refresh_from_db()
    assert task.assignee_id == "alice"
    # Claimed, it is no longer offered to the group.
    assert ids(client.get("/tasks", bob)) == []
    assert ids(client.get("/tasks?scope=assigned", alice)) == [str(task.pk)]


def test_claim__a_task_claimed_by_another_is_409(client, alice, make_caller) -> None:
    task = task_of(start(client, alice))
    assert client.post(f"/tasks/{task.pk}/claim", alice).status_code == 201
    # A reviewer who can see every task gets the conflict; one who cannot, a 404.
    watcher = make_caller("wanda", groups=["reviewers"], perms=["view_humantaskmodel"])
    body = assert_error(client.post(f"/tasks/{task.pk}/claim", watcher), 409, "conflict")
    assert "alice" in body["detail"]
    plain = make_caller("bob", groups=["reviewers"])
    assert_error(client.post(f"/tasks/{task.pk}/claim", plain), 404, "task_not_found")
    task.refresh_from_db()
    assert task.assignee_id == "alice"
    assert len(task.activity) == 1


def test_release__gives_the_task_back_to_its_group(client, alice, bob) -> None:
    task = task_of(start(client, alice))
    assert client.post(f"/tasks/{task.pk}/claim", alice).status_code == 201
    answer = client.post(f"/tasks/{task.pk}/release", alice)
    assert answer.status_code == 201, answer
    body = answer.json()
    assert (body["assignee"], body["assignee_group"]) == (None, "reviewers")
    assert [entry["action"] for entry in body["activity"]] == ["claimed", "released"]
    assert ids(client.get("/tasks", bob)) == [str(task.pk)]
    assert_error(client.post(f"/tasks/{task.pk}/release", alice), 409, "conflict")


def test_reassign__to_a_user_then_a_group_with_reasons(client, alice, bob) -> None:
    task = task_of(start(client, alice))
    assert client.post(f"/tasks/{task.pk}/claim", alice).status_code == 201
    answer = client.post(
        f"/tasks/{task.pk}/reassign", alice, json={"new_assignee": "bob", "reason": "holiday"}
    )
    assert answer.status_code == 201, answer
    body = answer.json()
    assert (body["assignee"], body["assignee_group"]) == ("bob", "reviewers")
    last = body["activity"][-1]
    assert (last["action"], last["by"], last["reason"]) == ("reassigned", "alice", "holiday")
    assert (last["from_assignee"], last["to_assignee"]) == ("alice", "bob")
    assert ids(client.get("/tasks?scope=assigned", bob)) == [str(task.pk)]
    answer = client.post(
        f"/tasks/{task.pk}/reassign",
        bob,
        json={"new_assignee": "carol", "new_group": "editors", "reason": "legal"},
    )
    assert answer.status_code == 201, answer
    assert (answer.json()["assignee"], answer.json()["assignee_group"]) == ("carol", "editors")
    task.refresh_from_db()
    assert (task.assignee_id, task.assignee_group) == ("carol", "editors")
    assert [entry.get("reason") for entry in task.activity] == [None, "holiday", "legal"]
    assert StepExecutionModel.objects.get(pk=task.step_execution_id).assigned_to == "carol"


def test_reassign__only_the_group_keeps_the_assignee(client, alice, make_caller) -> None:
    manager = make_caller("max", perms=["reassign_any_task", "view_humantaskmodel"])
    task = task_of(start(client, alice))
    answer = client.post(f"/tasks/{task.pk}/reassign", manager, json={"new_group": "editors"})
    assert answer.status_code == 201, answer
    assert (answer.json()["assignee"], answer.json()["assignee_group"]) == (None, "editors")
    assert "reason" not in answer.json()["activity"][-1]
    assert ids(client.get("/tasks", alice)) == []
    # A reviewer who holds no reassign permission and is not the assignee may not.
    editor = make_caller("ed", groups=["editors"])
    refused = client.post(f"/tasks/{task.pk}/reassign", editor, json={"new_assignee": "ed"})
    assert_error(refused, 403, "forbidden")


def test_reassign__without_a_new_assignee_or_group_is_422(client, alice) -> None:
    task = task_of(start(client, alice))
    assert client.post(f"/tasks/{task.pk}/claim", alice).status_code == 201
    for body in ({}, {"reason": "no target"}, {"new_assignee": None, "new_group": None}):
        answer = client.post(f"/tasks/{task.pk}/reassign", alice, json=body)
        error = assert_error(answer, 422)
        assert error["code"] == "invalid"
    task.refresh_from_db()
    assert (task.assignee_id, task.assignee_group) == ("alice", "reviewers")
    assert len(task.activity) == 1
