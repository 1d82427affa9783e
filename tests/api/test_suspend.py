"""Suspending and resuming instances through the REST API, on the three transports: one
instance (``POST /instances/{id}/suspend`` and ``/resume``) and many (``POST
/instances/suspend`` and ``/resume``, by ids or by filter). The rules are the service's (the
``suspend_workflowinstance`` permission, the caller's tenant); the change is the engine's."""

from __future__ import annotations

import uuid

import pytest

from tests.api.helpers import assert_error, start, task_of
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

PERMS = ["start_workflow", "suspend_workflowinstance", "view_workflowinstancemodel"]


@pytest.fixture
def ops(make_caller):
    return make_caller("ops", groups=["reviewers"], perms=PERMS, tenant="acme")


def _snapshot() -> tuple:
    return (
        sorted(
            WorkflowInstanceModel.objects.values_list("id", "status", "lock_version", "metadata")
        ),
        sorted(HumanTaskModel.objects.values_list("id", "status")),
    )


def _status(instance_id: str) -> str:
    return WorkflowInstanceModel.objects.get(pk=instance_id).status


def test_suspend_and_resume__one_instance(client, ops) -> None:
    started = start(client, ops)

    answer = client.post(f"/instances/{started['id']}/suspend", ops, json={"reason": "incident"})

    assert answer.status_code == 200, answer
    assert (answer.json()["id"], answer.json()["status"]) == (started["id"], "suspended")
    assert task_of(started).status == "on_hold"
    completing = client.post(
        f"/tasks/{task_of(started).pk}/complete", ops, json={"output_data": {}}
    )
    assert "suspended" in assert_error(completing, 409, "conflict")["detail"]
    again = client.post(f"/instances/{started['id']}/suspend", ops, json={"reason": "twice"})
    assert "cannot be suspended: it is suspended" in assert_error(again, 409)["detail"]

    resumed = client.post(f"/instances/{started['id']}/resume", ops)

    assert resumed.status_code == 200, resumed
    assert resumed.json()["status"] == "waiting"
    assert task_of(started).status == "pending"
    audit = WorkflowInstanceModel.objects.get(pk=started["id"]).metadata["suspensions"]
    assert [(e["action"], e["by"]) for e in audit] == [("suspended", "ops"), ("resumed", "ops")]
    assert audit[0]["reason"] == "incident"
    twice = client.post(f"/instances/{started['id']}/resume", ops)
    assert "is not suspended" in assert_error(twice, 409, "conflict")["detail"]


def test_suspend__a_webhook_while_suspended_is_kept_until_the_resume(client, ops) -> None:
    started = start(client, ops, "api_webhook")
    token = client.get(f"/instances/{started['id']}", ops).json()["context_data"][
        "await_payment_callback_token"
    ]
    client.post(f"/instances/{started['id']}/suspend", ops, json={"reason": "audit"})

    kept = client.post(f"/webhooks/{token}", json={"paid": 1})

    assert kept.status_code == 201, kept
    assert kept.json() == {"instance_id": started["id"], "status": "suspended"}
    assert_error(client.post(f"/webhooks/{token}", json={"paid": 2}), 409, "conflict")
    resumed = client.post(f"/instances/{started['id']}/resume", ops)
    assert resumed.json()["status"] == "completed"
    assert WorkflowInstanceModel.objects.get(pk=started["id"]).context_data["payment"] == {
        "paid": 1
    }


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "reason"]),
        ({"reason": ""}, ["body", "reason"]),
        ({"reason": "x" * 501}, ["body", "reason"]),
        ({"reason": "ok", "why": "extra"}, ["body", "why"]),
    ],
)
def test_suspend__bad_body__422_nothing_written(client, ops, body, loc) -> None:
    started = start(client, ops)
    before = _snapshot()

    answer = assert_error(client.post(f"/instances/{started['id']}/suspend", ops, json=body), 422)

    assert loc in [error["loc"] for error in answer["errors"]]
    assert _snapshot() == before


def test_suspend__a_blank_reason_is_422(client, ops) -> None:
    started = start(client, ops)
    answer = client.post(f"/instances/{started['id']}/suspend", ops, json={"reason": "   "})
    assert_error(answer, 422, "invalid")
    assert _status(started["id"]) == "waiting"


def test_suspend__without_the_permission_403_and_another_tenant_404(
    client, ops, make_caller
) -> None:
    viewer = make_caller(
        "viewer", perms=["start_workflow", "view_workflowinstancemodel"], tenant="acme"
    )
    other = make_caller("other", groups=["reviewers"], perms=PERMS, tenant="globex")
    ours = start(client, ops)
    before = _snapshot()

    for path, body in (("suspend", {"reason": "x"}), ("resume", None)):
        forbidden = client.post(f"/instances/{ours['id']}/{path}", viewer, json=body)
        assert_error(forbidden, 403, "forbidden")
        hidden = client.post(f"/instances/{ours['id']}/{path}", other, json=body)
        assert_error(hidden, 404, "instance_not_found")
        missing = client.post(f"/instances/{uuid.uuid4()}/{path}", ops, json=body)
        assert_error(missing, 404, "instance_not_found")
    assert _snapshot() == before


def test_bulk__by_ids_each_on_its_own(client, ops, make_caller) -> None:
    first, second = start(client, ops), start(client, ops)
    finished = start(client, ops, "api_flaky")  # failed: cannot be suspended
    other = make_caller("other", groups=["reviewers"], perms=PERMS, tenant="globex")
    theirs = start(client, other)
    ids = [first["id"], finished["id"], theirs["id"], second["id"]]

    answer = client.post("/instances/suspend", ops, json={"ids": ids, "reason": "maintenance"})

    assert answer.status_code == 200, answer
    body = answer.json()
    assert (body["done"], body["refused"]) == (2, 2)
    by_id = {o["id"]: o for o in body["outcomes"]}
    assert by_id[first["id"]] == {"id": first["id"], "done": True, "error": None}
    assert by_id[second["id"]]["done"] is True
    assert "cannot be suspended: it is failed" in by_id[finished["id"]]["error"]
    assert by_id[theirs["id"]]["error"] == f"No workflow instance {theirs['id']}"
    assert [_status(i) for i in ids] == ["suspended", "failed", "waiting", "suspended"]

    resumed = client.post("/instances/resume", ops, json={"ids": [first["id"], finished["id"]]})

    assert (resumed.json()["done"], resumed.json()["refused"]) == (1, 1)
    assert [_status(first["id"]), _status(second["id"])] == ["waiting", "suspended"]


def test_bulk__by_filter_within_the_tenant(client, ops, make_caller) -> None:
    ours = [start(client, ops), start(client, ops)]
    webhook = start(client, ops, "api_webhook")
    other = make_caller("other", groups=["reviewers"], perms=PERMS, tenant="globex")
    theirs = start(client, other)

    answer = client.post(
        "/instances/suspend", ops, json={"workflow_name": "api_review", "reason": "incident"}
    )

    assert answer.status_code == 200, answer
    assert sorted(o["id"] for o in answer.json()["outcomes"]) == sorted(i["id"] for i in ours)
    assert _status(webhook["id"]) == "waiting" and _status(theirs["id"]) == "waiting"

    resumed = client.post("/instances/resume", ops, json={"status": "suspended"})

    assert resumed.json()["done"] == 2
    assert {_status(i["id"]) for i in ours} == {"waiting"}


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("suspend", {"reason": "x"}, "invalid"),  # neither ids nor a filter
        ("suspend", {"ids": [], "reason": "x"}, "validation_error"),
        ("suspend", {"ids": ["not-a-uuid"], "reason": "x"}, "validation_error"),
        ("suspend", {"workflow_name": "api_review"}, "validation_error"),  # no reason
        ("resume", {"ids": [str(uuid.uuid4())], "workflow_name": "x"}, "invalid"),
        ("resume", {"status": "sleeping"}, "validation_error"),
    ],
)
def test_bulk__bad_body__422(client, ops, path, body, code) -> None:
    start(client, ops)
    before = _snapshot()
    assert_error(client.post(f"/instances/{path}", ops, json=body), 422, code)
    assert _snapshot() == before


def test_bulk__without_the_permission__403(client, ops, make_caller) -> None:
    viewer = make_caller(
        "viewer", perms=["start_workflow", "view_workflowinstancemodel"], tenant="acme"
    )
    started = start(client, ops)
    before = _snapshot()
    body = {"ids": [started["id"]], "reason": "x"}
    assert_error(client.post("/instances/suspend", viewer, json=body), 403, "forbidden")
    assert_error(client.post("/instances/resume", viewer, json={"ids": [started["id"]]}), 403)
    assert _snapshot() == before
