"""Delegation through the REST API, on every transport (ninja in process, ninja over HTTP,
the Litestar adapter over HTTP): delegate -> the delegate's draft -> the owner completes;
a delegate completing is refused (403 ``delegate_cannot_complete``), and so are the other
refusals, the database unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import assert_error, row_counts, start
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

START = ["start_workflow"]


@pytest.fixture
def people(make_caller) -> dict[str, Any]:
    return {
        "maria": make_caller("maria", groups=["reviewers"], perms=START, tenant="acme"),
        "olga": make_caller("olga", tenant="acme"),
        "piet": make_caller("piet", groups=["reviewers"], tenant="acme"),
        "eve": make_caller("eve", groups=["reviewers"], tenant="other"),
        "alice": make_caller("alice", groups=["reviewers"], perms=START, tenant="acme"),
    }


def snapshot() -> Any:
    return (
        row_counts(),
        sorted(
            HumanTaskModel.objects.values_list(
                "id", "status", "assignee_id", "owner_id", "delegation", "activity"
            )
        ),
        sorted(WorkflowInstanceModel.objects.values_list("id", "status", "lock_version")),
    )


def claimed(client: Any, people: dict[str, Any]) -> HumanTaskModel:
    """An api_review instance's review task, claimed by maria."""
    instance = start(client, people["maria"], "api_review")
    task = HumanTaskModel.objects.get(instance_id=instance["id"])
    answer = client.post(f"/tasks/{task.pk}/claim", people["maria"], json={})
    assert answer.status_code == 201, answer
    return task


def test_delegate_resolve_and_the_owner_completes(client, people) -> None:
    task = claimed(client, people)
    answer = client.post(f"/tasks/{task.pk}/delegate", people["maria"], json={"to_user": "olga"})
    assert answer.status_code == 201, answer
    body = answer.json()
    assert body["assignee"] == "olga"
    assert body["delegation"]["owner"] == "maria"
    assert body["delegation"]["delegate"] == "olga"
    assert body["delegation"]["state"] == "delegated"

    # the delegate finds it under "delegated to me"; the owner still sees the task
    inbox = client.get("/tasks?scope=delegated", people["olga"])
    assert [row["id"] for row in inbox.json()] == [str(task.pk)], inbox
    assert client.get("/tasks?scope=delegated", people["maria"]).json() == []
    assert client.get(f"/tasks/{task.pk}", people["maria"]).status_code == 200

    before = snapshot()
    refused = client.post(
        f"/tasks/{task.pk}/complete", people["olga"], json={"output_data": {"approved": True}}
    )
    assert_error(refused, 403, "delegate_cannot_complete")
    assert snapshot() == before

    draft = {"approved": True, "score": 4}
    answer = client.post(f"/tasks/{task.pk}/resolve", people["olga"], json={"data": draft})
    assert answer.status_code == 201, answer
    body = answer.json()
    assert body["assignee"] == "maria"
    assert body["delegation"]["state"] == "resolved"
    assert body["delegation"]["draft"] == draft
    assert [entry["action"] for entry in body["activity"]] == ["claimed", "delegated", "resolved"]

    done = client.post(f"/tasks/{task.pk}/complete", people["maria"], json={"output_data": draft})
    assert done.status_code == 201, done
    assert done.json()["status"] == "completed"


def test_refusals(client, people) -> None:
    task = claimed(client, people)
    before = snapshot()
    path = f"/tasks/{task.pk}"
    # not delegated: nothing to resolve
    assert_error(client.post(f"{path}/resolve", people["maria"], json={"data": {}}), 409)
    # not yours: piet is a reviewer, but maria holds the task
    answer = client.post(f"{path}/delegate", people["piet"], json={"to_user": "olga"})
    assert answer.status_code in (403, 404), answer
    # another tenant's task is not found
    answer = client.post(f"{path}/delegate", people["eve"], json={"to_user": "olga"})
    assert_error(answer, 404, "task_not_found")
    # bad input
    for body in ({}, {"to_user": ""}, {"to_user": "x" * 256}, {"to_user": "olga", "x": 1}):
        assert_error(client.post(f"{path}/delegate", people["maria"], json=body), 422)
    assert_error(client.post(f"{path}/delegate", people["maria"], json={"to_user": "maria"}), 422)
    assert snapshot() == before

    answer = client.post(f"{path}/delegate", people["maria"], json={"to_user": "olga"})
    assert answer.status_code == 201, answer
    before = snapshot()
    # delegated once at a time
    answer = client.post(f"{path}/delegate", people["maria"], json={"to_user": "piet"})
    assert_error(answer, 409, "conflict")
    # only the delegate resolves
    assert_error(client.post(f"{path}/resolve", people["maria"], json={"data": {}}), 403)
    assert_error(client.post(f"{path}/resolve", people["eve"], json={"data": {}}), 404)
    for body in ({}, {"data": [1]}, {"data": "yes"}):
        assert_error(client.post(f"{path}/resolve", people["olga"], json=body), 422)
    assert snapshot() == before


def test_delegating_to_an_excluded_user_is_refused(client, people) -> None:
    """api_four_eyes: alice started it and wrote the report; she may not approve it, so
    nobody may delegate the approval to her."""
    instance = start(client, people["alice"], "api_four_eyes")
    write = HumanTaskModel.objects.get(instance_id=instance["id"], step_name="write")
    done = client.post(f"/tasks/{write.pk}/complete", people["alice"], json={"output_data": {}})
    assert done.status_code == 201, done
    approve = HumanTaskModel.objects.get(instance_id=instance["id"], step_name="approve")
    before = snapshot()
    answer = client.post(
        f"/tasks/{approve.pk}/delegate", people["maria"], json={"to_user": "alice"}
    )
    assert_error(answer, 403, "excluded_user")
    assert snapshot() == before
