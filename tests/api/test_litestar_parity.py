"""The Litestar adapter answers odd requests exactly as the ninja face does: the same status,
the same body, the same headers that matter (beyond what the contract suite checks)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.api.conftest import PREFIX

pytestmark = pytest.mark.django_db(transaction=True)

LONG_REASON = "r" * 10_001


def _requests(instance_id: str, task_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, options) of requests whose answers must match."""
    not_found = str(uuid.uuid4())
    return [
        ("POST", "/instances", {"data": b""}),
        ("POST", "/instances", {"data": b"null"}),
        ("POST", "/instances", {"data": b"{}", "content_type": "text/plain"}),
        (
            "POST",
            "/instances",
            {"data": b'{"definition_name": "api_review"}', "content_type": "text/plain"},
        ),
        ("POST", "/webhooks/some-token", {"data": b""}),
        ("POST", "/webhooks/some-token", {"data": b"null"}),
        ("POST", "/webhooks/some-token", {"data": b"[1, 2]", "anonymous": True}),
        ("GET", "/instances?limit=5&limit=abc", {}),
        ("GET", "/instances?limit=abc&offset=-1&status=x", {}),
        ("GET", "/instances?limit=1&unknown=1", {}),
        ("GET", "/tasks?count=true&status=any&limit=2", {}),
        ("GET", "/tasks?count=false", {}),
        ("POST", "/tasks/not-a-uuid/complete", {"data": b"{}"}),
        ("POST", "/tasks/not-a-uuid/complete", {"data": b"{oops"}),
        ("POST", "/tasks/not-a-uuid/claim?x=%00", {}),
        ("GET", "/definitions/unknown", {}),
        ("GET", "/definitions/api_review?version=9.9.9", {}),
        ("GET", "/definitions/api_review/graph?graph_format=svg", {}),
        ("GET", "/definitions/api_review/graph?graph_format=json", {}),
        ("GET", "/definitions?active_only=yes", {}),
        ("GET", "/definitions?active_only=", {}),
        ("POST", f"/instances/{instance_id}/cancel?reason={LONG_REASON}", {}),
        ("POST", f"/instances/{instance_id}/retry?from_step=", {}),
        ("GET", f"/instances/{instance_id.upper()}", {}),
        ("GET", f"/instances/{not_found}/graph", {}),
        ("POST", f"/tasks/{task_id}/reassign", {"data": b'{"reason": "nobody"}'}),
        ("POST", f"/tasks/{task_id}/send-back", {"data": b'{"to_step": "prepare"}'}),
        ("POST", f"/tasks/{task_id}/send-back", {"data": b'{"to_step": "x", "reason": "y"}'}),
        ("POST", "/tasks/not-a-uuid/send-back", {"data": b'{"to_step": "", "x": 1}'}),
        ("POST", f"/instances/{not_found}/withdraw", {}),
        ("POST", "/instances/not-a-uuid/withdraw", {}),
        ("POST", f"/tasks/{task_id}/complete", {"data": b'{"output_data": {"score": 9}}'}),
        ("POST", "/instances", {"data": b"{" + b" " * (1024 * 1024) + b"}", "anonymous": True}),
        ("GET", "/tasks?assignee_id=%00", {"anonymous": True}),
        ("GET", "/tasks", {"anonymous": True}),
        ("GET", "/tasks", {"authorization": "Bearer"}),
        # Ids as pydantic reads them (braces, a urn: prefix, 16 characters as bytes).
        ("GET", f"/instances/{{{instance_id}}}", {}),
        ("GET", f"/instances/urn:uuid:{instance_id}/steps", {}),
        ("GET", "/tasks/aaaaaaaaaaaaaaaa", {}),
        # Every problem at once: path and query, path and body.
        ("POST", f"/instances/not-a-uuid/cancel?reason={LONG_REASON}", {}),
        ("POST", "/instances/not-a-uuid/retry?from_step=x", {}),
        ("POST", "/tasks/not-a-uuid/reassign", {"data": b'{"new_assignee": "", "x": 1}'}),
        ("POST", "/tasks/not-a-uuid/complete", {"data": b""}),
        ("GET", "/instances?limit=5&limit=abc&offset=1&offset=-1&status=waiting", {}),
        ("GET", "/tasks?scope=all&count=on", {}),
        ("POST", f"/tasks/{task_id}/complete", {"data": b'{"output_data": {}, "x": 1}'}),
        # Bodies as Python's json module reads them.
        ("POST", "/webhooks/some-token", {"data": b"NaN"}),
        ("POST", "/webhooks/some-token", {"data": '{"paid": "\u00e9"}'.encode("utf-16")}),
        ("POST", "/webhooks/some-token", {"data": b"\xff"}),
    ]


def _send(session: requests.Session, url: str, headers: dict[str, str], request: tuple) -> Any:
    method, path, options = request
    sent = {} if options.get("anonymous") else dict(headers)
    if "authorization" in options:
        sent["Authorization"] = options["authorization"]
    if "data" in options:
        sent["Content-Type"] = options.get("content_type", "application/json")
    answer = session.request(
        method, url + PREFIX + path, data=options.get("data"), headers=sent, timeout=30
    )
    content_type = answer.headers.get("Content-Type", "")
    body = answer.json() if "json" in content_type else answer.text
    kept = {
        name: answer.headers.get(name)
        for name in ("X-Total-Count", "WWW-Authenticate")
        if name in answer.headers
    }
    return answer.status_code, _stable(body), kept


VOLATILE = {"id", "instance_id", "started_at", "created_at", "completed_at", "due_date"}


def _stable(body: Any) -> Any:
    """The body without what differs between two calls that each create a row (its ids and
    times)."""
    if isinstance(body, dict):
        return {key: "..." if key in VOLATILE else _stable(value) for key, value in body.items()}
    if isinstance(body, list):
        return [_stable(item) for item in body]
    return body


def test_odd_requests__same_answers_on_both_faces(
    live_server_url, litestar_server_url, make_caller
) -> None:
    alice = make_caller(
        "alice", groups=["reviewers"], perms=["start_workflow", "cancel_workflow", "retry_workflow"]
    )
    session = requests.Session()
    ninja_url = live_server_url + "/api"
    started = session.post(
        ninja_url + PREFIX + "/instances",
        json={"definition_name": "api_review"},
        headers=alice.headers,
        timeout=30,
    )
    assert started.status_code == 201, started.text
    instance = started.json()
    task_id = instance["pending_tasks"][0]["id"]
    differences = []
    for request in _requests(instance["id"], task_id):
        ninja = _send(session, ninja_url, alice.headers, request)
        litestar = _send(session, litestar_server_url, alice.headers, request)
        if ninja != litestar:
            differences.append((request[:2], ninja, litestar))
    assert not differences, "\n\n".join(repr(difference)[:1500] for difference in differences)
