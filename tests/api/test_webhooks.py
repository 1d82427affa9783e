"""POST /webhooks/{token}: an outside system resumes a waiting webhook step."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error, executions, row_counts, start
from workflows_app.models import StepExecutionModel, WorkflowInstanceModel


@pytest.fixture
def waiting(client, make_caller) -> dict:
    """An api_webhook instance waiting at ``await_payment``, and its callback token."""
    alice = make_caller("alice", perms=["start_workflow"])
    started = start(client, alice, "api_webhook")
    assert (started["status"], started["current_step"]) == ("waiting", "await_payment")
    detail = client.get(f"/instances/{started['id']}", alice).json()
    token = detail["context_data"]["await_payment_callback_token"]
    assert isinstance(token, str) and len(token) >= 20
    return {"id": started["id"], "token": token}


def test_webhook__resumes_the_instance_without_authentication(client, waiting) -> None:
    payload = {"paid": 12.5, "currency": "EUR", "lines": [1, 2]}
    answer = client.post(f"/webhooks/{waiting['token']}", json=payload)
    assert answer.status_code == 201, answer
    assert answer.json() == {"instance_id": waiting["id"], "status": "completed"}
    row = WorkflowInstanceModel.objects.get(pk=waiting["id"])
    assert row.status == "completed"
    assert row.context_data["payment"] == payload
    execution = StepExecutionModel.objects.get(instance_id=waiting["id"])
    assert (execution.step_name, execution.status) == ("await_payment", "succeeded")


def test_webhook__an_unknown_token_is_404(client, waiting) -> None:
    before = row_counts()
    answer = client.post("/webhooks/not-a-token", json={"paid": 1})
    assert_error(answer, 404, "callback_not_found")
    assert row_counts() == before
    assert WorkflowInstanceModel.objects.get(pk=waiting["id"]).status == "waiting"


def test_webhook__a_second_call_is_409(client, waiting) -> None:
    first = client.post(f"/webhooks/{waiting['token']}", json={"paid": 1})
    assert first.status_code == 201, first
    again = client.post(f"/webhooks/{waiting['token']}", json={"paid": 2})
    assert_error(again, 409, "conflict")
    row = WorkflowInstanceModel.objects.get(pk=waiting["id"])
    assert row.context_data["payment"] == {"paid": 1}
    assert executions(waiting["id"], "await_payment") == 1
