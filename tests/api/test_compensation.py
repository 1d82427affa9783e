"""Compensation through the REST API, on the three transports: ``POST
/instances/{id}/cancel?compensate=true`` undoes the completed steps before the instance
ends canceled; a failed instance shows its compensation (``metadata.compensation``, and
the step executions of ``step_type`` ``compensation``); ``POST /instances/{id}/retry``
runs a failed compensation again."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error, start, task_of

PERMS = [
    "start_workflow",
    "cancel_workflow",
    "retry_workflow",
    "view_workflowinstancemodel",
]


@pytest.fixture
def ops(make_caller):
    return make_caller("ops", groups=["reviewers"], perms=PERMS, tenant="acme")


def _steps(client, caller, instance_id: str) -> list[tuple[str, str, str]]:
    answer = client.get(f"/instances/{instance_id}/steps", caller)
    assert answer.status_code == 200, answer
    return [(s["step_name"], s["step_type"], s["status"]) for s in answer.json()]


def test_cancel_with_compensate__undoes_then_cancels(client, ops) -> None:
    started = start(client, ops, "api_saga")
    assert started["status"] == "waiting"

    answer = client.post(
        f"/instances/{started['id']}/cancel?reason=changed+plans&compensate=true", ops
    )

    assert answer.status_code == 201, answer
    body = answer.json()
    assert (body["status"], body["error"]) == ("canceled", "Canceled: changed plans")
    assert body["compensation"]["status"] == "completed"
    assert body["compensation"]["done"] == ["book"]
    detail = client.get(f"/instances/{started['id']}", ops).json()
    assert detail["context_data"]["booked"] is False
    assert ("book", "compensation", "succeeded") in _steps(client, ops, started["id"])
    assert task_of(started).status == "canceled"
    again = client.post(f"/instances/{started['id']}/cancel?compensate=true", ops)
    assert_error(again, 409, "workflow_finished")


def test_cancel_without_compensate__undoes_nothing(client, ops) -> None:
    started = start(client, ops, "api_saga")
    answer = client.post(f"/instances/{started['id']}/cancel", ops)
    assert answer.status_code == 201, answer
    assert answer.json()["compensation"] is None
    detail = client.get(f"/instances/{started['id']}", ops).json()
    assert detail["context_data"]["booked"] is True


def test_a_failed_compensation_shows_both_errors_and_retry_runs_it_again(client, ops) -> None:
    started = start(client, ops, "api_saga", input_data={"undo_fails": True})
    done = client.post(f"/tasks/{task_of(started).pk}/complete", ops, json={"output_data": {}})
    assert done.status_code in (200, 201), done

    failed = client.get(f"/instances/{started['id']}", ops).json()
    assert failed["status"] == "failed"
    assert failed["error"] == "flight canceled; compensating 'book' failed: hotel unreachable"
    assert failed["metadata"]["compensation"]["status"] == "failed"
    assert failed["compensation"]["errors"] == [{"step": "book", "error": "hotel unreachable"}]

    retried = client.post(f"/instances/{started['id']}/retry", ops)

    assert retried.status_code in (200, 201), retried
    assert (retried.json()["status"], retried.json()["error"]) == ("failed", "flight canceled")
    assert retried.json()["compensation"]["status"] == "completed"
    assert [s for s in _steps(client, ops, started["id"]) if s[1] == "compensation"] == [
        ("book", "compensation", "failed"),
        ("book", "compensation", "succeeded"),
    ]
    refused = client.post(f"/instances/{started['id']}/retry", ops)
    assert "compensated" in assert_error(refused, 409, "conflict")["detail"]
