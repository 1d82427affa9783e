"""Who may call the REST API at all: bearer tokens, Django's session with CSRF, and
``manage.py workflows_token``.

Every route but the webhook callback needs credentials; without valid ones the answer is
401 with the error shape and ``WWW-Authenticate: Bearer``, and nothing changes.
"""

from __future__ import annotations

import io
import time
import uuid
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from project.api import api
from workflows_app.api import make_token
from workflows_app.api.routes import router
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

SOME_ID = "6f1c1bde-6a3c-4a43-9d0e-2b1c9f0a7e11"

# Every authenticated route, with a body it would accept (authentication comes first).
ROUTES = [
    ("GET", "/definitions", None),
    ("GET", "/definitions/{name}", None),
    ("GET", "/definitions/{name}/graph", None),
    ("POST", "/instances", {"definition_name": "api_review"}),
    ("GET", "/instances", None),
    ("GET", "/instances/{instance_id}", None),
    ("GET", "/instances/{instance_id}/graph", None),
    ("GET", "/instances/{instance_id}/steps", None),
    ("POST", "/instances/{instance_id}/cancel", None),
    ("POST", "/instances/{instance_id}/retry", None),
    ("POST", "/instances/{instance_id}/suspend", {"reason": "x"}),
    ("POST", "/instances/{instance_id}/resume", None),
    ("POST", "/instances/suspend", {"ids": [str(uuid.UUID(int=1))], "reason": "x"}),
    ("POST", "/instances/resume", {"ids": [str(uuid.UUID(int=1))]}),
    (
        "POST",
        "/instances/migrate",
        {"workflow": "api_moving", "from_version": "1.0.0", "to_version": "1.1.0"},
    ),
    ("GET", "/tasks", None),
    ("GET", "/tasks/{task_id}", None),
    ("POST", "/tasks/{task_id}/complete", {"output_data": {"approved": True}}),
    ("POST", "/tasks/{task_id}/claim", None),
    ("POST", "/tasks/{task_id}/release", None),
    ("POST", "/tasks/{task_id}/reassign", {"new_assignee": "mallory"}),
    ("POST", "/tasks/{task_id}/send-back", {"to_step": "prepare", "reason": "again"}),
    ("POST", "/tasks/{task_id}/delegate", {"to_user": "olga"}),
    ("POST", "/tasks/{task_id}/resolve", {"data": {}}),
    ("GET", "/tasks/{task_id}/comments", None),
    ("POST", "/tasks/{task_id}/comments", {"text": "hi"}),
    ("PATCH", "/tasks/{task_id}/comments/{comment_id}", {"text": "hi"}),
    ("POST", "/instances/{instance_id}/withdraw", None),
    ("POST", "/messages", {"name": "api_payment_received", "correlation_key": "k", "ttl": 60}),
]

UNAUTHENTICATED = (
    "Authentication required: send a valid bearer token, 'Authorization: Bearer <token>'",
    "unauthenticated",
)


def _path(template: str) -> str:
    return template.format(
        name="api_review", instance_id=SOME_ID, task_id=SOME_ID, comment_id=SOME_ID
    )


def _snapshot() -> tuple:
    """Everything a request could change, to compare before and after."""
    return (
        sorted(
            WorkflowInstanceModel.objects.values_list(
                "id", "status", "current_step", "lock_version", "tenant_id"
            )
        ),
        sorted(HumanTaskModel.objects.values_list("id", "status", "assignee_id", "assignee_group")),
        StepExecutionModel.objects.count(),
    )


def _assert_unauthenticated(answer) -> None:
    assert answer.status_code == 401, answer
    assert answer.json() == {
        "status_code": 401,
        "detail": UNAUTHENTICATED[0],
        "code": UNAUTHENTICATED[1],
        "errors": [],
    }
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def _backdated_token(user: User, seconds: float) -> str:
    """A token for ``user`` signed ``seconds`` ago."""
    with mock.patch.object(signing.time, "time", return_value=time.time() - seconds):
        return make_token(user)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _start_review(client, make_caller) -> tuple:
    """An api_review instance waiting at its task, started by 'starter'."""
    starter = make_caller("starter", groups=["reviewers"], perms=["start_workflow"])
    started = client.post("/instances", starter, json={"definition_name": "api_review"})
    assert started.status_code == 201, started
    task = HumanTaskModel.objects.get(instance_id=started.json()["id"])
    return starter, started.json()["id"], str(task.pk)


# -- no credentials ---------------------------------------------------------------------


def test_routes__every_authenticated_route_is_listed_here() -> None:
    assert api is not None  # mounted: the router's operations have their auth
    found = {
        (method, path)
        for path, view in router.path_operations.items()
        for operation in view.operations
        for method in operation.methods
        if not path.startswith("/webhooks/") and operation.include_in_schema
    }
    assert found == {(method, path) for method, path, _ in ROUTES}


def test_route__no_credentials__401_with_bearer_challenge(client, make_caller) -> None:
    """On rows that exist (a privileged caller would succeed), every route says 401."""
    _starter, instance_id, task_id = _start_review(client, make_caller)
    before = _snapshot()
    for method, template, body in ROUTES:
        path = template.format(
            name="api_review", instance_id=instance_id, task_id=task_id, comment_id=SOME_ID
        )
        answer = client.request(method, path, json=body)
        assert answer.status_code == 401, (method, path, answer)
        _assert_unauthenticated(answer)
    assert _snapshot() == before


def test_webhook_callback__needs_no_credentials(client) -> None:
    answer = client.post("/webhooks/no-such-token", json={"paid": True})
    assert answer.status_code == 404, answer
    assert answer.json()["code"] == "callback_not_found"
    assert "WWW-Authenticate" not in answer.headers


@pytest.mark.parametrize(
    "authorization",
    ["Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer ", "Token abc", "bearer not-a-token"],
)
def test_route__malformed_authorization__401(client, make_caller, authorization) -> None:
    make_caller("alice", perms=["start_workflow"])
    before = _snapshot()
    for method, template, body in ROUTES:
        answer = client.request(
            method, _path(template), json=body, headers={"Authorization": authorization}
        )
        _assert_unauthenticated(answer)
    assert _snapshot() == before


# -- bad tokens -------------------------------------------------------------------------


READ_AND_WRITE = [
    ("GET", "/tasks", None),
    ("POST", "/instances", {"definition_name": "api_review"}),
]


def _check_refused(client, token: str) -> None:
    before = _snapshot()
    for method, path, body in READ_AND_WRITE:
        _assert_unauthenticated(client.request(method, path, json=body, headers=_bearer(token)))
    assert _snapshot() == before


def _check_accepted(client, token: str, username: str) -> None:
    answer = client.get("/tasks", headers=_bearer(token))
    assert answer.status_code == 200, answer
    started = client.post(
        "/instances", json={"definition_name": "api_review"}, headers=_bearer(token)
    )
    assert started.status_code == 201, started
    assert started.json()["created_by"] == username


def test_token__valid__authenticates_as_its_user(client, make_caller) -> None:
    alice = make_caller("alice", perms=["start_workflow"])
    _check_accepted(client, make_token(alice.user), "alice")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"), id="signature"),
        pytest.param(lambda token: "x" + token, id="payload"),
        pytest.param(lambda token: token.rsplit(":", 1)[0], id="no-signature"),
        pytest.param(lambda token: token.replace(":", ".", 1), id="separator"),
    ],
)
def test_token__tampered__401(client, make_caller, tamper) -> None:
    alice = make_caller("alice", perms=["start_workflow"])
    token = make_token(alice.user)
    assert tamper(token) != token
    _check_refused(client, tamper(token))


def test_token__for_another_user_id__401(client, make_caller) -> None:
    """A payload naming another user, signed with another salt, is refused."""
    make_caller("alice", perms=["start_workflow"])
    bob = make_caller("bob", perms=["start_workflow"])
    forged = signing.dumps({"u": str(bob.user.pk), "f": "0" * 20}, salt="another")
    _check_refused(client, forged)
    wrong_fingerprint = signing.dumps(
        {"u": str(bob.user.pk), "f": "0" * 20}, salt="workflows_app.api.token"
    )
    _check_refused(client, wrong_fingerprint)


def test_token__signed_with_another_secret_key__401(client, make_caller) -> None:
    alice = make_caller("alice", perms=["start_workflow"])
    with override_settings(SECRET_KEY="another-secret-key-" + "x" * 40):
        token = make_token(alice.user)
    _check_refused(client, token)


def test_token__of_deactivated_user__401(client, make_caller) -> None:
    alice = make_caller("alice", perms=["start_workflow"])
    token = make_token(alice.user)
    _check_accepted(client, token, "alice")
    alice.user.is_active = False
    alice.user.save(update_fields=["is_active"])
    _check_refused(client, token)


def test_token__of_deleted_user__401(client, make_caller) -> None:
    alice = make_caller("alice", perms=["start_workflow"])
    token = make_token(alice.user)
    alice.user.delete()
    _check_refused(client, token)


def test_token__made_before_password_change__401(client, make_caller) -> None:
    alice = make_caller("alice", perms=["start_workflow"])
    old = make_token(alice.user)
    alice.user.set_password("a new password")
    alice.user.save(update_fields=["password"])
    _check_refused(client, old)
    _check_accepted(client, make_token(alice.user), "alice")


def test_token__older_than_max_age__401(client, make_caller) -> None:
    alice = make_caller("alice", perms=["start_workflow"])
    max_age = 30 * 24 * 3600  # the default API_TOKEN_MAX_AGE, which the demo keeps
    _check_accepted(client, _backdated_token(alice.user, max_age - 60), "alice")
    _check_refused(client, _backdated_token(alice.user, max_age + 60))


@pytest.mark.django_db
def test_token__max_age_setting__is_honoured(make_caller) -> None:
    """(in process: the uvicorn process keeps its settings)"""
    from tests.api.conftest import NinjaClient

    client = NinjaClient()
    alice = make_caller("alice", perms=["start_workflow"])
    token = _backdated_token(alice.user, 120)
    _check_accepted(client, token, "alice")
    with override_settings(WORKFLOWS={**settings.WORKFLOWS, "API_TOKEN_MAX_AGE": 60}):
        _check_refused(client, token)
        _check_accepted(client, make_token(alice.user), "alice")


# -- session ----------------------------------------------------------------------------


API = "/api/workflows"


@pytest.fixture
def browser(db) -> Client:
    return Client(enforce_csrf_checks=True)


def _csrf_token(browser: Client) -> str:
    """Get a CSRF cookie the way a browser does: from a page with a form."""
    page = browser.get("/admin/login/")
    assert page.status_code == 200
    return browser.cookies[settings.CSRF_COOKIE_NAME].value


def test_session__get__works(browser, make_caller) -> None:
    alice = make_caller("alice", groups=["reviewers"])
    browser.force_login(alice.user)
    answer = browser.get(f"{API}/tasks")
    assert answer.status_code == 200, answer.content
    assert answer.json() == []
    assert browser.get(f"{API}/definitions/api_review").json()["name"] == "api_review"


def test_session__post_without_csrf_token__403(browser, make_caller) -> None:
    alice = make_caller("alice", perms=["start_workflow"])
    browser.force_login(alice.user)
    answer = browser.post(
        f"{API}/instances", {"definition_name": "api_review"}, content_type="application/json"
    )
    assert answer.status_code == 403, answer.content
    body = answer.json()
    assert set(body) == {"status_code", "detail", "code", "errors"}
    assert body["status_code"] == 403
    assert body["code"] == "forbidden"
    assert "CSRF" in body["detail"]
    assert WorkflowInstanceModel.objects.count() == 0


def test_session__post_with_wrong_csrf_token__403(browser, make_caller) -> None:
    alice = make_caller("alice", perms=["start_workflow"])
    browser.force_login(alice.user)
    _csrf_token(browser)
    answer = browser.post(
        f"{API}/instances",
        {"definition_name": "api_review"},
        content_type="application/json",
        headers={"X-CSRFToken": "x" * 64},
    )
    assert answer.status_code == 403, answer.content
    assert answer.json()["code"] == "forbidden"
    assert WorkflowInstanceModel.objects.count() == 0


def test_session__post_with_csrf_cookie_and_header__201(browser, make_caller) -> None:
    alice = make_caller("alice", perms=["start_workflow"], tenant="acme")
    browser.force_login(alice.user)
    token = _csrf_token(browser)
    answer = browser.post(
        f"{API}/instances",
        {"definition_name": "api_review"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert answer.status_code == 201, answer.content
    row = WorkflowInstanceModel.objects.get(pk=answer.json()["id"])
    assert (row.created_by, row.tenant_id) == ("alice", "acme")


def test_session__of_deactivated_user__401(browser, make_caller) -> None:
    alice = make_caller("alice")
    browser.force_login(alice.user)
    alice.user.is_active = False
    alice.user.save(update_fields=["is_active"])
    _assert_unauthenticated(browser.get(f"{API}/tasks"))


def test_session__none__post_is_401_not_a_csrf_failure(browser, make_caller) -> None:
    """No session and no token: the answer is "authenticate", whatever the CSRF state."""
    make_caller("alice", perms=["start_workflow"])
    answer = browser.post(
        f"{API}/instances", {"definition_name": "api_review"}, content_type="application/json"
    )
    _assert_unauthenticated(answer)
    assert WorkflowInstanceModel.objects.count() == 0


def test_session__bearer_token__needs_no_csrf_token(browser, make_caller) -> None:
    alice = make_caller("alice", perms=["start_workflow"])
    answer = browser.post(
        f"{API}/instances",
        {"definition_name": "api_review"},
        content_type="application/json",
        headers=alice.headers,
    )
    assert answer.status_code == 201, answer.content


# -- manage.py workflows_token ----------------------------------------------------------


def test_workflows_token__prints_a_token_that_authenticates(client, make_caller) -> None:
    make_caller("alice", perms=["start_workflow"])
    out, err = io.StringIO(), io.StringIO()
    call_command("workflows_token", "alice", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert token and "\n" not in token
    assert "Valid for 30 days" in err.getvalue()
    _check_accepted(client, token, "alice")


@pytest.mark.django_db
def test_workflows_token__unknown_user__command_error() -> None:
    out = io.StringIO()
    with pytest.raises(CommandError, match="No user with username 'nobody'"):
        call_command("workflows_token", "nobody", stdout=out, stderr=io.StringIO())
    assert out.getvalue() == ""


@pytest.mark.django_db
def test_workflows_token__inactive_user__command_error(make_caller) -> None:
    alice = make_caller("alice")
    alice.user.is_active = False
    alice.user.save(update_fields=["is_active"])
    out = io.StringIO()
    with pytest.raises(CommandError, match="not active"):
        call_command("workflows_token", "alice", stdout=out, stderr=io.StringIO())
    assert out.getvalue() == ""
