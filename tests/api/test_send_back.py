"""POST /tasks/{id}/send-back and POST /instances/{id}/withdraw, on every transport (the
ninja test client, ninja over HTTP, the Litestar adapter over HTTP): the same shapes, the
same refusals (404 for another tenant's ids, 403, 409, 422), the database unchanged by a
refusal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import assert_error, row_counts, start
from workflows_app.core.types import TaskStatus
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

START = ["start_workflow"]


@pytest.fixture
def people(make_caller) -> dict[str, Any]:
    return {
        "alice": make_caller("alice", groups=["reviewers"], perms=START, tenant="acme"),
        "bob": make_caller("bob", groups=["reviewers"], perms=START, tenant="acme"),
        "viewer": make_caller(
            "vic", perms=["view_humantaskmodel", "view_workflowinstancemodel"], tenant="acme"
        ),
        "other": make_caller(
            "olga", groups=["reviewers"], perms=[*START, "complete_any_task"], tenant="globex"
        ),
    }


def pending(instance_id: Any, step: str) -> HumanTaskModel:
    return HumanTaskModel.objects.get(instance_id=instance_id, step_name=step, status="pending")


def checking(client: Any, people: dict[str, Any]) -> tuple[dict[str, Any], HumanTaskModel]:
    """An api_rework instance alice started and wrote; its check task is pending."""
    instance = start(client, people["alice"], "api_rework")
    write = pending(instance["id"], "write")
    done = client.post(f"/tasks/{write.pk}/complete", people["alice"], json={"output_data": {}})
    assert done.status_code == 201, done
    return instance, pending(instance["id"], "check")


def snapshot() -> Any:
    return (
        row_counts(),
        sorted(HumanTaskModel.objects.values_list("id", "status", "assignee_id")),
        sorted(WorkflowInstanceModel.objects.values_list("id", "status", "lock_version")),
    )


def test_send_back__returns_the_task_to_its_writer_with_the_reason(client, people) -> None:
    instance, check = checking(client, people)
    answer = client.post(
        f"/tasks/{check.pk}/send-back",
        people["bob"],
        json={"to_step": "write", "reason": "Add the Q3 figures"},
    )
    assert answer.status_code == 201, answer
    body = answer.json()
    assert (body["id"], body["status"], body["current_step"]) == (
        instance["id"],
        "waiting",
        "write",
    )
    check.refresh_from_db()
    assert check.status == TaskStatus.CANCELED
    again = pending(instance["id"], "write")
    assert again.assignee_id == "alice"
    shown = client.get(f"/tasks/{again.pk}", people["alice"])
    assert shown.status_code == 200, shown
    sent_back = shown.json()["sent_back"]
    assert (sent_back["from_step"], sent_back["reason"], sent_back["by"]) == (
        "check",
        "Add the Q3 figures",
        "bob",
    )
    assert sent_back["at"]
    assert client.get(f"/tasks/{check.pk}", people["bob"]).json()["sent_back"] is None


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"to_step": "check", "reason": "x"}, 422, "may send back only to 'write'"),
        ({"to_step": "nope", "reason": "x"}, 422, "not a step"),
        ({"to_step": "write"}, 422, None),
        ({"to_step": "write", "reason": ""}, 422, None),
        ({"to_step": "write", "reason": "x" * 2001}, 422, None),
    ],
)
def test_send_back__bad_input_is_422_and_changes_nothing(
    client, people, body, status, words
) -> None:
    _instance, check = checking(client, people)
    before = snapshot()
    answer = client.post(f"/tasks/{check.pk}/send-back", people["bob"], json=body)
    error = assert_error(answer, status)
    if words is not None:
        assert words in error["detail"], error
    assert snapshot() == before


def test_send_back__refusals(client, people) -> None:
    instance, check = checking(client, people)
    before = snapshot()
    body = {"to_step": "write", "reason": "again"}
    # another tenant's task does not exist for the caller, whatever its permissions
    assert_error(client.post(f"/tasks/{check.pk}/send-back", people["other"], json=body), 404)
    # seen, but not offered to the caller: not theirs to send back
    refused = client.post(f"/tasks/{check.pk}/send-back", people["viewer"], json=body)
    assert_error(refused, 403, "forbidden")
    assert snapshot() == before
    # a step that allows no send back
    write_instance = start(client, people["alice"], "api_rework")
    write = pending(write_instance["id"], "write")
    no = client.post(f"/tasks/{write.pk}/send-back", people["bob"], json=body)
    assert "allows no send back" in assert_error(no, 422)["detail"]
    # no longer pending
    done = client.post(f"/tasks/{check.pk}/complete", people["bob"], json={"output_data": {}})
    assert done.status_code == 201, done
    assert_error(client.post(f"/tasks/{check.pk}/send-back", people["bob"], json=body), 409)
    assert WorkflowInstanceModel.objects.get(pk=instance["id"]).status == "completed"


def test_withdraw__by_the_starter_cancels_it(client, people) -> None:
    instance = start(client, people["alice"], "api_rework")
    answer = client.post(f"/instances/{instance['id']}/withdraw", people["alice"])
    assert answer.status_code == 201, answer
    assert answer.json()["status"] == "canceled"
    assert pending_count(instance["id"]) == 0


def pending_count(instance_id: Any) -> int:
    return HumanTaskModel.objects.filter(instance_id=instance_id, status="pending").count()


def test_withdraw__refusals(client, people) -> None:
    instance = start(client, people["alice"], "api_rework")
    path = f"/instances/{instance['id']}/withdraw"
    before = snapshot()
    assert_error(client.post(path, people["other"]), 404)
    assert_error(client.post(path, people["viewer"]), 403, "forbidden")
    assert_error(client.post(path, people["bob"]), 403)  # he sees it (its task is offered)
    assert snapshot() == before
    write = pending(instance["id"], "write")
    assert client.post(f"/tasks/{write.pk}/claim", people["bob"]).status_code == 201
    claimed = assert_error(client.post(path, people["alice"]), 409, "conflict")
    assert "claimed" in claimed["detail"]
    assert_error(client.post("/instances/not-a-uuid/withdraw", people["alice"]), 404)
