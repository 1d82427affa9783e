"""POST/GET /instances and the routes of one instance (upstream §4.1, §4.2)."""

from __future__ import annotations

import pytest

from tests.api.helpers import (
    UPSTREAM_INSTANCE_FIELDS,
    assert_error,
    executions,
    row_counts,
    start,
    task_of,
)
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

DONE_STYLE = "fill:#90EE90,stroke:#006400,stroke-width:2px"
FAILED_STYLE = "fill:#FFB6C1,stroke:#8B0000,stroke-width:2px"
CURRENT_STYLE = "fill:#FFD700,stroke:#FFA500,stroke-width:3px"


@pytest.fixture
def alice(make_caller):
    """Starts, cancels and retries workflows; a reviewer."""
    return make_caller(
        "alice",
        groups=["reviewers"],
        perms=["start_workflow", "cancel_workflow", "retry_workflow"],
    )


def test_start__answers_201_with_upstream_fields(client, alice) -> None:
    answer = client.post("/instances", alice, json={"definition_name": "api_review"})
    assert answer.status_code == 201, answer
    body = answer.json()
    assert UPSTREAM_INSTANCE_FIELDS <= set(body)
    assert set(body) - UPSTREAM_INSTANCE_FIELDS >= {"workflow_version", "tenant_id", "error"}
    assert body["definition_name"] == "api_review"
    assert body["status"] == "waiting"  # ran "prepare", waits at the human step
    assert body["current_step"] == "review"
    assert body["created_by"] == "alice"
    assert body["completed_at"] is None
    assert body["started_at"]
    assert body["workflow_version"] == "1.0.0"
    assert body["tenant_id"] is None
    assert body["error"] is None
    row = WorkflowInstanceModel.objects.get(pk=body["id"])
    assert (row.status, row.created_by) == ("waiting", "alice")


def test_start__correlation_id_lands_in_metadata(client, alice) -> None:
    started = start(
        client,
        alice,
        input_data={"document": "d-7"},
        correlation_id="order-42",
        version="1.0.0",
    )
    detail = client.get(f"/instances/{started['id']}", alice).json()
    assert detail["metadata"]["correlation_id"] == "order-42"
    assert detail["context_data"]["document"] == "d-7"
    assert WorkflowInstanceModel.objects.get(pk=started["id"]).metadata["correlation_id"] == (
        "order-42"
    )


def test_start__unknown_definition_is_404(client, alice) -> None:
    before = row_counts()
    answer = client.post("/instances", alice, json={"definition_name": "nope"})
    body = assert_error(answer, 404, "workflow_not_found")
    assert "nope" in body["detail"]
    unknown_version = client.post(
        "/instances", alice, json={"definition_name": "api_review", "version": "7.0.0"}
    )
    assert_error(unknown_version, 404, "workflow_not_found")
    assert row_counts() == before


def test_start__needs_the_start_permission(client, make_caller) -> None:
    bob = make_caller("bob")
    answer = client.post("/instances", bob, json={"definition_name": "api_review"})
    assert_error(answer, 403, "forbidden")
    assert WorkflowInstanceModel.objects.count() == 0


def test_start__input_data_against_the_input_schema_is_422_nothing_created(client, alice) -> None:
    # The demo's expense_approval declares an input_schema: amount required, above 0.
    before = row_counts()
    answer = client.post(
        "/instances",
        alice,
        json={"definition_name": "expense_approval", "input_data": {"amount": 0}},
    )
    body = assert_error(answer, 422, "invalid")
    assert body["errors"] == [
        {
            "loc": ["body", "input_data", "amount"],
            "msg": "0 is less than or equal to the minimum of 0",
            "type": "input_schema",
        }
    ]
    assert row_counts() == before
    started = client.post(
        "/instances",
        alice,
        json={"definition_name": "expense_approval", "input_data": {"amount": 12}},
    )
    assert started.status_code == 201, started


def test_list__filters_by_workflow_name_and_status(client, alice) -> None:
    reviews = [start(client, alice)["id"] for _ in range(2)]
    flaky = start(client, alice, "api_flaky")
    assert flaky["status"] == "failed"

    def ids(query: str) -> list[str]:
        answer = client.get(f"/instances{query}", alice)
        assert answer.status_code == 200, answer
        return [item["id"] for item in answer.json()]

    assert sorted(ids("?workflow_name=api_review")) == sorted(reviews)
    assert ids("?workflow_name=api_flaky") == [flaky["id"]]
    assert ids("?status=failed") == [flaky["id"]]
    assert sorted(ids("?status=waiting")) == sorted(reviews)
    assert ids("?status=waiting&workflow_name=api_flaky") == []
    assert len(ids("")) == 3


def test_list__filters_by_created_by(client, make_caller) -> None:
    alice = make_caller("alice", perms=["start_workflow"])
    bob = make_caller("bob", perms=["start_workflow"])
    viewer = make_caller("viewer", perms=["view_workflowinstancemodel"])
    mine = start(client, alice, "api_flaky")["id"]
    theirs = start(client, bob, "api_flaky")["id"]

    def ids(caller, query: str = "") -> list[str]:
        answer = client.get(f"/instances{query}", caller)
        assert answer.status_code == 200, answer
        return [item["id"] for item in answer.json()]

    assert ids(viewer, "?created_by=alice") == [mine]
    assert ids(viewer, "?created_by=bob") == [theirs]
    assert sorted(ids(viewer)) == sorted([mine, theirs])
    assert ids(alice) == [mine]  # without the view permission: only one's own


def test_list__filters_by_tenant_id_within_the_callers_tenant(client, make_caller) -> None:
    acme = make_caller("ann", perms=["start_workflow"], tenant="acme")
    loner = make_caller("lou", perms=["start_workflow", "view_workflowinstancemodel"])
    started = start(client, acme, "api_flaky")
    assert started["tenant_id"] == "acme"
    start(client, loner, "api_flaky")

    def ids(caller, query: str = "") -> list[str]:
        answer = client.get(f"/instances{query}", caller)
        assert answer.status_code == 200, answer
        return [item["id"] for item in answer.json()]

    assert ids(acme, "?tenant_id=acme") == [started["id"]]
    assert ids(acme, "?tenant_id=other") == []
    # A user without a tenant sees only rows without one, even with the view permission.
    assert started["id"] not in ids(loner)
    assert ids(loner, "?tenant_id=acme") == []
    assert_error(client.get(f"/instances/{started['id']}", loner), 404, "instance_not_found")


def test_list__pages_with_the_total_in_a_header(client, alice) -> None:
    started = [start(client, alice, "api_flaky")["id"] for _ in range(5)]
    pages = []
    for offset in (0, 2, 4):
        answer = client.get(f"/instances?limit=2&offset={offset}", alice)
        assert answer.status_code == 200, answer
        assert answer.headers["X-Total-Count"] == "5"
        pages.append([item["id"] for item in answer.json()])
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [item for page in pages for item in page] == started[::-1]  # newest first
    beyond = client.get("/instances?limit=2&offset=10", alice)
    assert beyond.json() == []
    assert beyond.headers["X-Total-Count"] == "5"
    whole = client.get("/instances", alice)
    assert whole.headers["X-Total-Count"] == "5"
    assert len(whole.json()) == 5


def test_detail__has_the_step_history_and_context(client, alice) -> None:
    started = start(client, alice, input_data={"document": "d-1"})
    answer = client.get(f"/instances/{started['id']}", alice)
    assert answer.status_code == 200, answer
    detail = answer.json()
    assert detail["id"] == started["id"]
    assert detail["context_data"]["document"] == "d-1"
    assert detail["context_data"]["prepared"] is True
    history = [
        (step["step_name"], step["status"], step["step_type"], step["attempt"])
        for step in detail["step_history"]
    ]
    assert history == [("prepare", "succeeded", "machine", 1), ("review", "waiting", "human", 1)]
    review = detail["step_history"][1]
    assert review["completed_at"] is None
    assert review["error"] is None
    assert set(review) >= {"id", "step_name", "status", "started_at", "completed_at", "error"}


def test_instance_graph__colours_done_and_current_steps(client, alice) -> None:
    started = start(client, alice)
    answer = client.get(f"/instances/{started['id']}/graph", alice)
    assert answer.status_code == 200, answer
    graph = answer.json()
    lines = graph["mermaid_source"].splitlines()
    assert lines[0] == "graph TD"
    assert f"    style prepare {DONE_STYLE}" in lines
    assert f"    style review {CURRENT_STYLE}" in lines
    assert not any("style publish" in line for line in lines)
    assert [node["id"] for node in graph["nodes"]] == ["prepare", "review", "publish", "archive"]
    assert len(graph["edges"]) == 3


def test_instance_graph__colours_a_failed_step(client, alice) -> None:
    failed = start(client, alice, "api_flaky")
    lines = client.get(f"/instances/{failed['id']}/graph", alice).json()["mermaid_source"]
    assert f"    style charge {FAILED_STYLE}" in lines.splitlines()
    assert CURRENT_STYLE not in lines  # a failed instance has no current step to highlight


def test_steps__lists_the_executions_in_order(client, alice) -> None:
    started = start(client, alice)
    answer = client.get(f"/instances/{started['id']}/steps", alice)
    assert answer.status_code == 200, answer
    steps = answer.json()
    assert [(s["step_name"], s["status"]) for s in steps] == [
        ("prepare", "succeeded"),
        ("review", "waiting"),
    ]
    assert steps[1]["assigned_to"] is None
    assert steps == client.get(f"/instances/{started['id']}", alice).json()["step_history"]


def test_cancel__cancels_the_instance_and_its_tasks(client, alice) -> None:
    started = start(client, alice)
    answer = client.post(f"/instances/{started['id']}/cancel?reason=not+needed", alice)
    assert answer.status_code == 201, answer
    body = answer.json()
    assert body["status"] == "canceled"
    assert body["error"] == "Canceled: not needed"
    assert body["completed_at"] is not None
    assert task_of(started).status == "canceled"
    assert WorkflowInstanceModel.objects.get(pk=started["id"]).status == "canceled"
    # The canceled task leaves the inbox.
    assert client.get("/tasks", alice).json() == []


def test_cancel__a_finished_instance_is_409(client, alice) -> None:
    started = start(client, alice)
    done = client.post(
        f"/tasks/{task_of(started).pk}/complete", alice, json={"output_data": {"approved": False}}
    )
    assert done.json()["status"] == "completed"
    answer = client.post(f"/instances/{started['id']}/cancel", alice)
    assert_error(answer, 409, "workflow_finished")
    assert WorkflowInstanceModel.objects.get(pk=started["id"]).status == "completed"


def test_cancel__needs_the_cancel_permission(client, alice, make_caller) -> None:
    starter = make_caller("starter", perms=["start_workflow"])
    started = start(client, starter)
    assert_error(client.post(f"/instances/{started['id']}/cancel", starter), 403, "forbidden")
    assert task_of(started).status == "pending"
    # Another user's instance, not seen: not found rather than forbidden.
    assert_error(
        client.post(f"/instances/{started['id']}/cancel", make_caller("eve")),
        404,
        "instance_not_found",
    )


def test_retry__completes_a_failed_instance(client, alice) -> None:
    failed = start(client, alice, "api_flaky")
    assert failed["status"] == "failed"
    assert "card declined" in failed["error"]
    assert failed["current_step"] == "charge"
    answer = client.post(f"/instances/{failed['id']}/retry", alice)
    assert answer.status_code == 201, answer
    body = answer.json()
    assert body["status"] == "completed"
    assert body["error"] is None
    assert body["completed_at"] is not None
    detail = client.get(f"/instances/{failed['id']}", alice).json()
    assert detail["context_data"]["charged"] is True
    assert [(s["status"], s["attempt"]) for s in detail["step_history"]] == [
        ("failed", 1),
        ("succeeded", 1),
    ]


def test_retry__an_instance_that_did_not_fail_is_409(client, alice) -> None:
    started = start(client, alice)
    assert_error(client.post(f"/instances/{started['id']}/retry", alice), 409, "conflict")
    assert WorkflowInstanceModel.objects.get(pk=started["id"]).status == "waiting"
    assert HumanTaskModel.objects.filter(instance_id=started["id"]).count() == 1


def test_retry__from_an_unknown_step_is_409(client, alice) -> None:
    # The engine raises InvalidTransitionError, a WorkflowStateError: 409 "conflict".
    failed = start(client, alice, "api_flaky")
    answer = client.post(f"/instances/{failed['id']}/retry?from_step=nowhere", alice)
    body = assert_error(answer, 409, "conflict")
    assert "nowhere" in body["detail"]
    assert WorkflowInstanceModel.objects.get(pk=failed["id"]).status == "failed"
    assert executions(failed["id"], "charge") == 1
