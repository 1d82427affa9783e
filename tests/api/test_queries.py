"""The SQL an API request issues, counted in process (ninja's test client)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import UserManager
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from ninja.testing import TestClient

from project.api import api
from workflows_app.api.auth import user_for_token
from workflows_app.services import group_names

pytestmark = pytest.mark.django_db


def inbox_queries(caller, limit: int) -> int:
    client = TestClient(api)
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(f"/workflows/tasks?limit={limit}", headers=caller.headers)
    assert answer.status_code == 200, answer.content
    assert len(answer.json()) == min(limit, 12)
    return len(queries)


def test_inbox__two_queries_whatever_the_page_size(make_caller) -> None:
    """The token's user with its groups in one query (the tenant resolver reads the same
    groups), then the page: no COUNT unless asked, no query per task."""
    alice = make_caller("alice", groups=["reviewers", "tenant:acme"], perms=["start_workflow"])
    client = TestClient(api)
    for _ in range(12):
        started = client.post(
            "/workflows/instances", json={"definition_name": "api_review"}, headers=alice.headers
        )
        assert started.status_code == 201, started.content

    assert [inbox_queries(alice, limit) for limit in (1, 5, 50)] == [2, 2, 2]


def test_user_for_token__brings_the_group_names_along(make_caller) -> None:
    bob = make_caller("bob", groups=["reviewers", "auditors"])
    token = bob.headers["Authorization"].removeprefix("Bearer ")

    with CaptureQueriesContext(connection) as queries:
        user = user_for_token(token)
        names = group_names(user)

    assert len(queries) == 1
    assert user.pk == bob.user.pk and user.username == "bob"
    assert names == {"reviewers", "auditors"}


def test_user_for_token__a_user_in_no_group(make_caller) -> None:
    carol = make_caller("carol")
    token = carol.headers["Authorization"].removeprefix("Bearer ")

    user = user_for_token(token)

    assert user.username == "carol"
    assert group_names(user) == frozenset()


@pytest.mark.parametrize("user_pk", ["abc", "", "1.5", "99999999999999999999", None, [1]])
def test_user_for_token__a_signed_pk_that_is_no_user__none(make_caller, user_pk) -> None:
    """A token signed with the right key but naming no possible user (it cannot happen
    unless the key leaked) is refused, not an error."""
    make_caller("alice")
    token = signing.dumps({"u": user_pk, "f": "0" * 20}, salt="workflows_app.api.token")
    assert user_for_token(token) is None


def test_user_for_token__two_users_one_compiled_query(make_caller) -> None:
    """The user's query is compiled once; each token still gets its own user and groups."""
    alice = make_caller("alice", groups=["reviewers"])
    bob = make_caller("bob", groups=["auditors", "tenant:acme"])
    for caller, groups in ((alice, {"reviewers"}), (bob, {"auditors", "tenant:acme"})) * 2:
        user = user_for_token(caller.headers["Authorization"].removeprefix("Bearer "))
        assert (user.username, group_names(user)) == (caller.user.username, groups)


class _VisibleUsers(UserManager):
    """A project's default manager that leaves some users out (soft-deleted ones, say)."""

    def get_queryset(self):
        return super().get_queryset().exclude(username__startswith="gone-")


def test_user_for_token__read_through_the_user_models_default_manager(make_caller) -> None:
    """The token's user is read through ``get_user_model()._default_manager``: a user that
    the project's manager leaves out is no user, and the compiled query, kept per manager,
    honours a manager it has not seen before."""
    alice = make_caller("alice", groups=["reviewers"])
    gone = make_caller("gone-bob", groups=["reviewers"])
    tokens = {
        caller.user.username: caller.headers["Authorization"].removeprefix("Bearer ")
        for caller in (alice, gone)
    }
    assert user_for_token(tokens["gone-bob"]).username == "gone-bob"  # Django's manager
    manager = _VisibleUsers()
    manager.model = get_user_model()

    with mock.patch.object(get_user_model()._meta, "default_manager", manager):
        assert get_user_model()._default_manager is manager
        assert user_for_token(tokens["gone-bob"]) is None
        assert group_names(user_for_token(tokens["alice"])) == {"reviewers"}
        answer = TestClient(api).get("/workflows/tasks", headers=gone.headers)
        assert answer.status_code == 401, answer.content

    assert user_for_token(tokens["gone-bob"]).username == "gone-bob"
