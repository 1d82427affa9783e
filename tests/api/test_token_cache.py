"""``WORKFLOWS["API_TOKEN_CACHE_SECONDS"]``: a process remembers the user of a bearer token.

In the process that made a change (a saved user, new groups or permissions), the change
applies to the very next request; in other processes, within the cache time.
"""

from __future__ import annotations

import contextlib
import time
from unittest import mock

import pytest
import requests
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.db import connection, transaction
from django.db.models.signals import post_save
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import NinjaClient
from tests.live_server import uvicorn_server
from workflows_app.api import auth, make_token
from workflows_app.api.auth import TokenCache, token_cache, user_for_token
from workflows_app.models import HumanTaskModel

CACHED = {**settings.WORKFLOWS, "API_TOKEN_CACHE_SECONDS": 5}


@pytest.fixture
def cached():
    token_cache.clear()
    with override_settings(WORKFLOWS=CACHED):
        yield
    token_cache.clear()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _inbox(token: str):
    return NinjaClient().get("/tasks", headers=_bearer(token))


@contextlib.contextmanager
def _later(seconds: float):
    """Move the clocks (the cache's, and the one tokens are dated by) ``seconds`` on."""
    monotonic, wall = time.monotonic(), time.time()
    with (
        mock.patch.object(auth.time, "monotonic", return_value=monotonic + seconds),
        mock.patch.object(auth.time, "time", return_value=wall + seconds),
    ):
        yield


pytestmark = pytest.mark.django_db


def test_second_request__reads_no_user(cached, make_caller) -> None:
    alice = make_caller("alice", groups=["reviewers"])
    token = make_token(alice.user)
    assert _inbox(token).status_code == 200

    with CaptureQueriesContext(connection) as queries:
        answer = _inbox(token)

    assert answer.status_code == 200
    assert len(queries) == 1, [query["sql"] for query in queries]  # the page only
    assert "auth_user" not in queries[0]["sql"]


def test_off_by_default__every_request_reads_the_user(make_caller) -> None:
    alice = make_caller("alice", groups=["reviewers"])
    token = make_token(alice.user)
    assert _inbox(token).status_code == 200

    with CaptureQueriesContext(connection) as queries:
        assert _inbox(token).status_code == 200

    assert len(queries) == 2
    assert len(token_cache) == 0


def test_deactivated_user__refused_at_once(cached, make_caller) -> None:
    alice = make_caller("alice")
    token = make_token(alice.user)
    assert _inbox(token).status_code == 200

    alice.user.is_active = False
    alice.user.save(update_fields=["is_active"])

    assert _inbox(token).status_code == 401


def test_new_password__old_token_refused_at_once(cached, make_caller) -> None:
    alice = make_caller("alice")
    token = make_token(alice.user)
    assert _inbox(token).status_code == 200

    alice.user.set_password("something else")
    alice.user.save()

    assert _inbox(token).status_code == 401
    assert _inbox(make_token(alice.user)).status_code == 200


def test_deleted_user__refused_at_once(cached, make_caller) -> None:
    alice = make_caller("alice")
    token = make_token(alice.user)
    assert _inbox(token).status_code == 200

    alice.user.delete()

    assert _inbox(token).status_code == 401


def _review_tasks(client: NinjaClient, token: str) -> list[str]:
    answer = client.get("/tasks", headers=_bearer(token))
    assert answer.status_code == 200, answer
    return [task["step_name"] for task in answer.json()]


def test_group_left__its_tasks_go_at_once(cached, make_caller) -> None:
    starter = make_caller("starter", perms=["start_workflow"])
    alice = make_caller("alice", groups=["reviewers"])
    client = NinjaClient()
    started = client.post("/instances", starter, json={"definition_name": "api_review"})
    assert started.status_code == 201, started
    token = make_token(alice.user)
    assert _review_tasks(client, token) == ["review"]

    alice.user.groups.remove(Group.objects.get(name="reviewers"))
    assert _review_tasks(client, token) == []

    Group.objects.get(name="reviewers").user_set.add(alice.user)  # from the group's side
    assert _review_tasks(client, token) == ["review"]


def test_group_renamed__applies_at_once(cached, make_caller) -> None:
    starter = make_caller("starter", perms=["start_workflow"])
    alice = make_caller("alice", groups=["reviewers"])
    client = NinjaClient()
    assert (
        client.post("/instances", starter, json={"definition_name": "api_review"}).status_code
        == 201
    )
    token = make_token(alice.user)
    assert _review_tasks(client, token) == ["review"]

    group = Group.objects.get(name="reviewers")
    group.name = "former reviewers"
    group.save()

    assert _review_tasks(client, token) == []


def test_permission_taken_from_group__applies_at_once(cached, make_caller) -> None:
    alice = make_caller("alice", groups=["starters"])
    starters = Group.objects.get(name="starters")
    start = Permission.objects.get(codename="start_workflow")
    starters.permissions.add(start)
    token = make_token(alice.user)
    client = NinjaClient()
    body = {"definition_name": "api_review"}
    assert client.post("/instances", json=body, headers=_bearer(token)).status_code == 201

    starters.permissions.remove(start)

    assert client.post("/instances", json=body, headers=_bearer(token)).status_code == 403


def test_permission_taken_from_user__applies_at_once(cached, make_caller) -> None:
    alice = make_caller("alice", perms=["start_workflow"])
    token = make_token(alice.user)
    client = NinjaClient()
    body = {"definition_name": "api_review"}
    assert client.post("/instances", json=body, headers=_bearer(token)).status_code == 201

    alice.user.user_permissions.clear()

    assert client.post("/instances", json=body, headers=_bearer(token)).status_code == 403


def test_change_without_signals__applies_after_the_cache_time(cached, make_caller) -> None:
    """``QuerySet.update()`` sends no signal: the user is remembered until its time is up."""
    alice = make_caller("alice")
    token = make_token(alice.user)
    assert _inbox(token).status_code == 200

    User.objects.filter(pk=alice.user.pk).update(is_active=False)

    assert _inbox(token).status_code == 200
    with _later(4.9):
        assert _inbox(token).status_code == 200
    with _later(5.1):
        assert _inbox(token).status_code == 401


def test_token_expiring__not_remembered_past_its_age(make_caller) -> None:
    alice = make_caller("alice")
    with mock.patch.object(auth.signing.time, "time", return_value=time.time() - 57):
        token = make_token(alice.user)  # 2 to 3 seconds of life left (whole seconds)
    token_cache.clear()
    with override_settings(WORKFLOWS={**CACHED, "API_TOKEN_MAX_AGE": 60}):
        assert _inbox(token).status_code == 200
        with _later(1):
            assert _inbox(token).status_code == 200
        with _later(3.2):  # remembered for 5 s, but the token's life is over
            assert _inbox(token).status_code == 401
    token_cache.clear()


def test_change_committed_later__forgotten_again_at_commit(
    cached, make_caller, django_capture_on_commit_callbacks
) -> None:
    """A request between the change and its commit reads the old row, and may remember it;
    the commit makes the cache forget it again."""
    alice = make_caller("alice")
    token = make_token(alice.user)
    stale = user_for_token(token)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            alice.user.is_active = False
            alice.user.save(update_fields=["is_active"])
            token_cache.put(token, stale, 5)  # what a concurrent request would do
            assert token_cache.get(token) is stale

    assert token_cache.get(token) is None
    assert _inbox(token).status_code == 401


def test_user_read_before_a_change__not_remembered(cached, make_caller) -> None:
    """A request that read the user before a change, and finishes after it, must not
    remember what it read."""
    alice = make_caller("alice")
    token = make_token(alice.user)
    read = auth._user_with_groups

    def read_then_changed(user_pk):
        user = read(user_pk)
        alice.user.is_active = False
        alice.user.save(update_fields=["is_active"])  # meanwhile, in another request
        return user

    with mock.patch.object(auth, "_user_with_groups", read_then_changed):
        assert _inbox(token).status_code == 200  # it read the user while still active

    assert len(token_cache) == 0
    assert _inbox(token).status_code == 401


def test_user_saved_through_a_proxy_model__forgotten(cached, make_caller) -> None:
    """A proxy of the user model (an admin's, say) sends signals with itself as sender."""
    alice = make_caller("alice")
    token = make_token(alice.user)
    assert _inbox(token).status_code == 200

    class StaffProxy:  # a stand-in sender: only the instance's class matters
        pass

    post_save.send(sender=StaffProxy, instance=alice.user, created=False, using="default")

    assert len(token_cache) == 0


def test_bad_tokens__never_remembered(cached) -> None:
    for token in ("nonsense", "a:b:c", make_token(User(pk=999_999, password="x"))):
        assert _inbox(token).status_code == 401
    assert len(token_cache) == 0


def test_cache__holds_at_most_its_size() -> None:
    cache = TokenCache(size=2)
    users = [User(pk=n) for n in range(3)]
    for n, user in enumerate(users):
        cache.put(f"token{n}", user, 5)

    assert len(cache) == 2
    assert cache.get("token0") is None  # the oldest went
    assert cache.get("token2") is users[2]


def test_settings_change__forgets_everything(cached, make_caller) -> None:
    alice = make_caller("alice")
    assert _inbox(make_token(alice.user)).status_code == 200
    assert len(token_cache) == 1

    with override_settings(SECRET_KEY="another secret"):
        assert len(token_cache) == 0


@pytest.mark.django_db(transaction=True)
def test_other_process__notices_within_the_cache_time(make_caller, tmp_path) -> None:
    """A server process does not see this process's signals: a deactivated user's token
    keeps working there until the server's cache time (1 s here) is up."""
    alice = make_caller("alice")
    token = make_token(alice.user)
    with uvicorn_server(
        "tests.api.asgi:application",
        tmp_path,
        ready_path="/api/openapi.json",
        env={"WORKFLOWS_API_TOKEN_CACHE_SECONDS": "1"},
    ) as url:
        inbox = f"{url}/api/workflows/tasks"
        assert requests.get(inbox, headers=_bearer(token), timeout=10).status_code == 200
        User.objects.filter(pk=alice.user.pk).update(is_active=False)
        remembered = requests.get(inbox, headers=_bearer(token), timeout=10).status_code
        time.sleep(1.2)
        forgotten = requests.get(inbox, headers=_bearer(token), timeout=10).status_code

    assert (remembered, forgotten) == (200, 401)
    assert not HumanTaskModel.objects.exists()
