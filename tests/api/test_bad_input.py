"""Requests the API must refuse, each with the error shape, never a 500, changing nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from tests.api.helpers import assert_error, locations, row_counts, start, task_of
from workflows_app.core.jsonvalues import MAX_DEPTH

NOT_A_UUID = "not-a-uuid"


@pytest.fixture
def alice(make_caller):
    return make_caller(
        "alice",
        groups=["reviewers"],
        perms=["start_workflow", "cancel_workflow", "retry_workflow"],
    )


@pytest.fixture
def task_id(client, alice) -> str:
    """A pending api_review task of Alice's (started before the counting begins)."""
    return str(task_of(start(client, alice)).pk)


@pytest.fixture
def unchanged() -> Iterator[None]:
    """Fails the test if it changes the number of instances, tasks or step executions."""
    before = row_counts()
    yield
    assert row_counts() == before


def refused(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code != 500, answer
    return assert_error(answer, status, code)


def test_malformed_json__is_400(client, alice, task_id, unchanged) -> None:
    bodies = [b'{"definition_name": ', b"{'definition_name': 'api_review'}", b"\xff\xfe"]
    for body in bodies:
        refused(client.post("/instances", alice, data=body), 400, "malformed")
    refused(
        client.post(f"/tasks/{task_id}/complete", alice, data=b"{output_data"), 400, "malformed"
    )
    refused(client.post(f"/tasks/{task_id}/reassign", alice, data=b"[1,"), 400, "malformed")
    refused(client.post("/webhooks/some-token", data=b'{"paid": }'), 400, "malformed")


def test_missing_or_wrong_typed_fields__are_422_with_their_paths(
    client, alice, task_id, unchanged
) -> None:
    cases = [
        ("/instances", {}, ["body", "definition_name"]),
        ("/instances", {"definition_name": 5}, ["body", "definition_name"]),
        ("/instances", {"definition_name": ""}, ["body", "definition_name"]),
        (
            "/instances",
            {"definition_name": "api_review", "input_data": [1]},
            ["body", "input_data"],
        ),
        ("/instances", {"definition_name": "api_review", "version": {}}, ["body", "version"]),
        ("/instances", {"definition_name": "x" * 256}, ["body", "definition_name"]),
        (f"/tasks/{task_id}/complete", {}, ["body", "output_data"]),
        (f"/tasks/{task_id}/complete", {"output_data": "yes"}, ["body", "output_data"]),
        (
            f"/tasks/{task_id}/complete",
            {"output_data": {"approved": True}, "comment": 3},
            ["body", "comment"],
        ),
        (f"/tasks/{task_id}/reassign", {"new_assignee": ""}, ["body", "new_assignee"]),
        (f"/tasks/{task_id}/reassign", {"new_group": ["a"]}, ["body", "new_group"]),
    ]
    for path, body, loc in cases:
        error = refused(client.post(path, alice, json=body), 422, "validation_error")
        assert locations(error) == [loc], (path, body, error)
    # A JSON body that is not an object.
    error = refused(client.post("/instances", alice, json=["api_review"]), 422, "validation_error")
    assert locations(error)[0][0] == "body"


def test_unknown_fields__are_rejected(client, alice, task_id, unchanged) -> None:
    cases = [
        ("/instances", {"definition_name": "api_review", "inputdata": {"a": 1}}, "inputdata"),
        # The API takes no metadata (the engine's records live there, docs/concepts/context.rst).
        (
            "/instances",
            {"definition_name": "api_review", "metadata": {"sent_back": []}},
            "metadata",
        ),
        (f"/tasks/{task_id}/complete", {"output_data": {"approved": True}, "x": 1}, "x"),
        (f"/tasks/{task_id}/reassign", {"new_assignee": "bob", "assignee": "bob"}, "assignee"),
    ]
    for path, body, field in cases:
        error = refused(client.post(path, alice, json=body), 422, "validation_error")
        assert locations(error) == [["body", field]], error
        assert error["errors"][0]["type"] == "extra_forbidden"
    assert client.get(f"/tasks/{task_id}", alice).json()["status"] == "pending"


def test_out_of_range_query_parameters__are_422(client, alice, unchanged) -> None:
    cases = [
        ("/instances?limit=0", ["query", "limit"]),
        ("/instances?limit=101", ["query", "limit"]),
        ("/instances?offset=-1", ["query", "offset"]),
        ("/instances?limit=ten", ["query", "limit"]),
        ("/instances?status=RUNNING", ["query", "status"]),
        ("/tasks?limit=0", ["query", "limit"]),
        ("/tasks?limit=101", ["query", "limit"]),
        ("/tasks?offset=-1", ["query", "offset"]),
        ("/tasks?scope=everyone", ["query", "scope"]),
        ("/tasks?status=done", ["query", "status"]),
        ("/tasks?ordering=title", ["query", "ordering"]),
        ("/tasks?overdue=maybe", ["query", "overdue"]),
        ("/tasks?instance_id=nope", ["query", "instance_id"]),
    ]
    for path, loc in cases:
        error = refused(client.get(path, alice), 422, "validation_error")
        assert locations(error) == [loc], (path, error)
    assert client.get("/instances?limit=100", alice).status_code == 200
    assert client.get("/tasks?limit=1&offset=0", alice).status_code == 200


def test_non_uuid_ids_in_paths__are_404(client, alice, unchanged) -> None:
    reads = [
        f"/instances/{NOT_A_UUID}",
        f"/instances/{NOT_A_UUID}/graph",
        f"/instances/{NOT_A_UUID}/steps",
        f"/tasks/{NOT_A_UUID}",
        "/tasks/12345",
    ]
    for path in reads:
        refused(client.get(path, alice), 404, "not_found")
    changes = [
        (f"/instances/{NOT_A_UUID}/cancel", None),
        (f"/instances/{NOT_A_UUID}/retry", None),
        (f"/tasks/{NOT_A_UUID}/complete", {"output_data": {"approved": True}}),
        (f"/tasks/{NOT_A_UUID}/claim", None),
        (f"/tasks/{NOT_A_UUID}/release", None),
        (f"/tasks/{NOT_A_UUID}/reassign", {"new_assignee": "bob"}),
    ]
    for path, body in changes:
        error = refused(client.post(path, alice, json=body), 404, "not_found")
        assert locations(error)[0][0] == "path"
    # A well-formed id that names nothing is the library's own "not found".
    missing = "00000000-0000-4000-8000-000000000000"
    refused(client.get(f"/instances/{missing}", alice), 404, "instance_not_found")
    refused(client.post(f"/tasks/{missing}/claim", alice), 404, "task_not_found")


def test_a_body_over_the_limit__is_413(client, alice, task_id, unchanged) -> None:
    start_body = {"definition_name": "api_review", "input_data": {"blob": "x" * 300}}
    complete_body = {"output_data": {"approved": True, "notes": "y" * 150}}
    paths = [
        ("/instances", start_body),
        (f"/tasks/{task_id}/complete", complete_body),
        ("/webhooks/some-token", {"blob": "z" * 300}),
    ]
    if client.transport == "ninja":
        workflows = {**settings.WORKFLOWS, "API_MAX_BODY_BYTES": 100}
        assert "TENANT_RESOLVER" in workflows
        with override_settings(WORKFLOWS=workflows):
            answers = [client.post(path, alice, json=body) for path, body in paths]
            # Under the limit, the same route still works.
            small = client.post(f"/tasks/{task_id}/claim", alice)
            assert small.status_code == 201, small
    else:  # the server runs with the default limit, 1 MiB
        over = 1024 * 1024 + 1
        answers = [
            client.post(path, alice, data=json.dumps({**body, "pad": "p" * over}).encode())
            for path, body in paths
        ]
    for answer in answers:
        body = refused(answer, 413, "too_large")
        assert body["errors"] == []
    assert client.get(f"/tasks/{task_id}", alice).json()["status"] == "pending"


# -- values no database stores alike (workflows_app.core.jsonvalues) ----------------------

# (raw JSON text of a value, the error type); the texts are written out, as a client would
# send them: Python's json module reads NaN, Infinity and 1e999 (as infinity), and lone
# surrogate escapes.
UNSTORABLE = [
    pytest.param("NaN", "not_finite", id="nan"),
    pytest.param("Infinity", "not_finite", id="infinity"),
    pytest.param("-Infinity", "not_finite", id="-infinity"),
    pytest.param("1e999", "not_finite", id="1e999"),
    pytest.param('"\\ud800"', "lone_surrogate", id="surrogate"),
    pytest.param('{"\\udc00x": 1}', "lone_surrogate", id="surrogate-key"),
    pytest.param('"a\\u0000b"', "nul_character", id="nul"),
    pytest.param("[" * MAX_DEPTH + "]" * MAX_DEPTH, "too_deep", id="one-level-too-deep"),
    pytest.param("[" * 500 + "]" * 500, "too_deep", id="501-levels"),
    pytest.param("[" * 100_000 + "]" * 100_000, "too_deep", id="100001-levels"),
]


@pytest.fixture
def webhook_token(client, alice) -> str:
    instance = start(client, alice, "api_webhook")
    return client.get(f"/instances/{instance['id']}", alice).json()["context_data"][
        "await_payment_callback_token"
    ]


@pytest.mark.parametrize(("value", "kind"), UNSTORABLE)
def test_unstorable_values__are_422_at_their_place_on_every_post_route(
    client, alice, task_id, webhook_token, value, kind
) -> None:
    # Each value one level below a field of the body (a stored value's own level).
    routes = [
        ("/instances", '{"definition_name": "api_review", "input_data": {"x": %s}}'),
        ("/instances", '{"definition_name": "api_review", "correlation_id": [%s]}'),
        (f"/tasks/{task_id}/complete", '{"output_data": {"approved": true, "x": %s}}'),
        (f"/tasks/{task_id}/reassign", '{"new_assignee": "bob", "reason": [%s]}'),
        (f"/tasks/{task_id}/claim", '{"x": [%s]}'),
        (f"/tasks/{task_id}/release", '{"x": [%s]}'),
        (f"/instances/{uuid.uuid4()}/cancel", '{"x": [%s]}'),
        (f"/instances/{uuid.uuid4()}/retry", '{"x": [%s]}'),
        (f"/webhooks/{webhook_token}", '{"x": [%s]}'),
        # The routes added since: suspension, rework, messages, comments, delegation.
        (f"/instances/{uuid.uuid4()}/suspend", '{"reason": [%s]}'),
        (f"/instances/{uuid.uuid4()}/resume", '{"x": [%s]}'),
        (f"/instances/{uuid.uuid4()}/withdraw", '{"x": [%s]}'),
        ("/instances/suspend", '{"workflow_name": "api_review", "reason": [%s]}'),
        ("/instances/resume", '{"workflow_name": "api_review", "x": [%s]}'),
        (f"/tasks/{task_id}/send-back", '{"to_step": "x", "reason": [%s]}'),
        (f"/tasks/{task_id}/comments", '{"text": [%s]}'),
        (f"/tasks/{task_id}/delegate", '{"to_user": "bob", "x": [%s]}'),
        (f"/tasks/{task_id}/resolve", '{"data": {"x": %s}}'),
        ("/messages", '{"name": "m", "correlation_key": "k", "payload": {"x": %s}}'),
    ]
    before = row_counts()
    for path, template in routes:
        body = (template % value).encode()
        error = refused(client.post(path, alice, data=body), 422, "validation_error")
        assert error["errors"], error
        assert {problem["type"] for problem in error["errors"]} == {kind}, (path, error)
        for loc in locations(error):
            assert loc[0] == "body", (path, error)
    assert row_counts() == before
    assert client.get(f"/tasks/{task_id}", alice).json()["status"] == "pending"
    assert client.post(f"/webhooks/{webhook_token}", json={"paid": 1}).status_code == 201


def test_unstorable_values__locations_name_the_field(client, alice, task_id, unchanged) -> None:
    body = b'{"output_data": {"approved": true, "lines": [1, {"qty": NaN}], "\\ud83dx": 2}}'

    error = refused(client.post(f"/tasks/{task_id}/complete", alice, data=body), 422, None)

    assert sorted(locations(error), key=str) == sorted(
        [["body", "output_data", "lines", 1, "qty"], ["body", "output_data", "\\ud83dx"]],
        key=str,
    )
    assert "body.output_data.lines.1.qty" in error["detail"]


def test_nesting_up_to_the_limit__is_accepted(client, alice) -> None:
    # input_data is level 1: MAX_DEPTH - 1 more levels inside it make the default limit.
    inner = MAX_DEPTH - 1
    body = '{"definition_name": "api_review", "input_data": {"x": %s}}' % (
        "[" * inner + "]" * inner
    )

    answer = client.post("/instances", alice, data=body.encode())

    assert answer.status_code == 201, answer
    instance = client.get(f"/instances/{answer.json()['id']}", alice)
    assert instance.status_code == 200, instance


# -- paths and methods no route takes -----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("POST", "/nope"),
        ("GET", "/instances/a/b"),
        ("GET", "/instances/a%2Fb"),  # an id with an encoded slash is two segments
        ("POST", "/instances/a%2Fb/cancel"),
        ("POST", "/tasks/x/complete/again"),
        ("GET", "/webhooks"),
    ],
)
def test_an_unknown_path__is_a_404_in_the_error_shape(client, alice, method, path) -> None:
    if client.transport == "ninja" and "%2F" in path:
        pytest.skip("ninja's test client resolves the path undecoded, as no server does")
    for caller in (alice, None):
        refused(client.request(method, path, caller), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/instances", "GET, POST"),
        ("DELETE", "/instances/00000000-0000-4000-8000-000000000000", "GET"),
        ("PATCH", "/tasks/00000000-0000-4000-8000-000000000000", "GET"),
        ("GET", "/tasks/00000000-0000-4000-8000-000000000000/complete", "POST"),
        ("GET", "/webhooks/some-token", "POST"),
    ],
)
def test_a_wrong_method__is_a_405_in_the_error_shape(client, alice, method, path, allowed):
    answer = client.request(method, path, alice)

    body = refused(answer, 405, "method_not_allowed")
    assert answer.headers["Allow"] == allowed
    assert method in body["detail"] and allowed in body["detail"]
