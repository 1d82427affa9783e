"""Four-eyes rules through the REST API, on every transport (the ninja test client, ninja
over HTTP, the Litestar adapter over HTTP): an excluded user, a superuser included, is
refused with 403 ``excluded_user`` on every task operation, the database unchanged; the
inbox does not offer them the task."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import assert_error, row_counts, start
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

START = ["start_workflow"]


@pytest.fixture
def people(make_caller) -> dict[str, Any]:
    return {
        # the starter is a superuser: no permission lifts the rule
        "root": make_caller("root", groups=["reviewers"], tenant="acme", superuser=True),
        "alice": make_caller("alice", groups=["reviewers"], perms=START, tenant="acme"),
        "bob": make_caller("bob", groups=["reviewers"], perms=START, tenant="acme"),
    }


def pending(instance_id: Any, step: str) -> HumanTaskModel:
    return HumanTaskModel.objects.get(instance_id=instance_id, step_name=step, status="pending")


def approving(client: Any, people: dict[str, Any]) -> tuple[dict[str, Any], HumanTaskModel]:
    """An api_four_eyes instance root started and alice wrote; its approve task waits."""
    instance = start(client, people["root"], "api_four_eyes")
    write = pending(instance["id"], "write")
    done = client.post(f"/tasks/{write.pk}/complete", people["alice"], json={"output_data": {}})
    assert done.status_code == 201, done
    return instance, pending(instance["id"], "approve")


def snapshot() -> Any:
    return (
        row_counts(),
        sorted(HumanTaskModel.objects.values_list("id", "status", "assignee_id", "activity")),
        sorted(WorkflowInstanceModel.objects.values_list("id", "status", "lock_version")),
    )


def refusals(task: HumanTaskModel) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("root", f"/tasks/{task.pk}/complete", {"output_data": {}}),
        ("alice", f"/tasks/{task.pk}/complete", {"output_data": {}}),
        ("root", f"/tasks/{task.pk}/claim", {}),
        ("alice", f"/tasks/{task.pk}/claim", {}),
        ("alice", f"/tasks/{task.pk}/send-back", {"to_step": "write", "reason": "again"}),
        ("root", f"/tasks/{task.pk}/send-back", {"to_step": "write", "reason": "again"}),
        # nobody may give the task to an excluded user, a superuser least of all
        ("root", f"/tasks/{task.pk}/reassign", {"new_assignee": "alice"}),
    ]


def test_every_task_operation_refuses_an_excluded_user(client, people) -> None:
    _, task = approving(client, people)
    before = snapshot()
    for who, path, body in refusals(task):
        answer = client.post(path, people[who], json=body)
        detail = assert_error(answer, 403, "excluded_user")["detail"]
        assert "four-eyes" in detail, (who, path)
        assert snapshot() == before, (who, path)


def test_someone_else_approves(client, people) -> None:
    _, task = approving(client, people)
    claimed = client.post(f"/tasks/{task.pk}/claim", people["bob"], json={})
    assert claimed.status_code == 201, claimed
    done = client.post(f"/tasks/{task.pk}/complete", people["bob"], json={"output_data": {}})
    assert done.status_code == 201, done
    assert done.json()["status"] == "completed"


def test_the_inbox_does_not_offer_the_task_to_the_excluded(client, people) -> None:
    _, task = approving(client, people)

    def inbox(who: str) -> list[str]:
        answer = client.get("/tasks?status=pending", people[who])
        assert answer.status_code == 200, answer
        return [row["id"] for row in answer.json()]

    assert str(task.pk) in inbox("bob")
    assert str(task.pk) not in inbox("alice")
    assert str(task.pk) not in inbox("root")
    # still readable by those who may see it: refused only when they act
    shown = client.get(f"/tasks/{task.pk}", people["alice"])
    assert shown.status_code == 200, shown
