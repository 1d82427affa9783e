"""Task comments through the REST API, on every transport (the ninja test client, ninja
over HTTP, the Litestar adapter over HTTP): GET/POST /tasks/{id}/comments and PATCH
/tasks/{id}/comments/{comment_id}, with the same shapes and refusals (404 for another
tenant's task, 403 for another's comment, 409 after the edit window, 422 for bad text)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.api.helpers import assert_error, start
from workflows_app.models import HumanTaskModel, TaskCommentModel

START = ["start_workflow"]
KEYS = {"id", "task_id", "author", "text", "created_at", "edited_at"}


@pytest.fixture
def people(make_caller) -> dict[str, Any]:
    return {
        "alice": make_caller("alice", groups=["reviewers"], perms=START, tenant="acme"),
        "bob": make_caller("bob", groups=["reviewers"], perms=START, tenant="acme"),
        "eve": make_caller("eve", groups=["editors"], perms=START, tenant="acme"),
        "olga": make_caller(
            "olga", groups=["reviewers"], perms=[*START, "complete_any_task"], tenant="globex"
        ),
    }


def a_task(client: Any, people: dict[str, Any]) -> HumanTaskModel:
    instance = start(client, people["alice"], "api_rework")
    return HumanTaskModel.objects.get(instance_id=instance["id"], step_name="write")


def test_post_then_list_the_thread(client, people) -> None:
    task = a_task(client, people)
    path = f"/tasks/{task.pk}/comments"
    first = client.post(path, people["alice"], json={"text": "Which quarter?"})
    assert first.status_code == 201, first
    body = first.json()
    assert set(body) == KEYS
    assert (body["author"], body["text"], body["task_id"], body["edited_at"]) == (
        "alice",
        "Which quarter?",
        str(task.pk),
        None,
    )
    assert client.post(path, people["bob"], json={"text": "Q3"}).status_code == 201
    thread = client.get(path, people["bob"])
    assert thread.status_code == 200, thread
    assert [(c["author"], c["text"]) for c in thread.json()] == [
        ("alice", "Which quarter?"),
        ("bob", "Q3"),
    ]


def test_the_author_edits_within_the_window(client, people) -> None:
    task = a_task(client, people)
    posted = client.post(f"/tasks/{task.pk}/comments", people["alice"], json={"text": "Q2"})
    path = f"/tasks/{task.pk}/comments/{posted.json()['id']}"
    edited = client.patch(path, people["alice"], json={"text": "Q3"})
    assert edited.status_code == 200, edited
    assert (edited.json()["text"], bool(edited.json()["edited_at"])) == ("Q3", True)
    stored = TaskCommentModel.objects.get()
    assert (stored.text, [e["text"] for e in stored.edits]) == ("Q3", ["Q2"])


def test_refusals_change_nothing(client, people) -> None:
    task = a_task(client, people)
    posted = client.post(f"/tasks/{task.pk}/comments", people["alice"], json={"text": "Q2"})
    comment_id = posted.json()["id"]
    path = f"/tasks/{task.pk}/comments/{comment_id}"
    # another's comment
    assert_error(client.patch(path, people["bob"], json={"text": "mine"}), 403, "forbidden")
    # bad text: empty, too long, NUL
    for text in ("", " ", "x" * 5001, "a\u0000b"):
        answer = client.post(f"/tasks/{task.pk}/comments", people["bob"], json={"text": text})
        assert answer.status_code == 422, (text[:10], answer)
    assert_error(client.patch(path, people["alice"], json={"text": ""}), 422)
    # an unknown field, an unknown comment
    answer = client.post(f"/tasks/{task.pk}/comments", people["bob"], json={"txt": "x"})
    assert answer.status_code == 422, answer
    other = f"/tasks/{task.pk}/comments/00000000-0000-0000-0000-000000000000"
    assert_error(client.patch(other, people["alice"], json={"text": "x"}), 404, "comment_not_found")
    # too late: the window passed
    TaskCommentModel.objects.update(created_at=posted_at(comment_id) - timedelta(minutes=6))
    late = assert_error(client.patch(path, people["alice"], json={"text": "Q4"}), 409, "conflict")
    assert "can no longer be edited" in late["detail"]
    assert list(TaskCommentModel.objects.values_list("text", flat=True)) == ["Q2"]


def posted_at(comment_id: str) -> Any:
    return TaskCommentModel.objects.get(pk=comment_id).created_at


def test_who_does_not_see_the_task_gets_404(client, people) -> None:
    task = a_task(client, people)
    path = f"/tasks/{task.pk}/comments"
    client.post(path, people["alice"], json={"text": "Q2"})
    # another tenant's task, whatever their permissions; and a task not offered to eve
    for who in ("olga", "eve"):
        assert_error(client.get(path, people[who]), 404, "task_not_found")
        assert_error(client.post(path, people[who], json={"text": "hi"}), 404, "task_not_found")
    assert TaskCommentModel.objects.count() == 1
    assert client.get(path).status_code == 401
