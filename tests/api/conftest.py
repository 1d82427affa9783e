"""Fixtures of the REST API tests: users with tokens, and one client for three transports.

``client`` is parametrised: ``ninja`` calls the demo's ``NinjaAPI`` in process (ninja's
test client), ``http`` sends real HTTP to a uvicorn process serving the demo project on
this run's test database, and ``litestar`` real HTTP to a uvicorn process serving the
Litestar adapter (``tests/api/litestar_asgi.py``) on the same database. Contract tests
take ``client`` and run against all three. (What only ninja has, Django's session with
CSRF and ninja's OpenAPI schema, is tested without ``client``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from ninja.testing import TestClient

from tests.api import workflows
from tests.live_server import uvicorn_server
from tests.users import make_user
from workflows_app.api import make_token
from workflows_app.core.registry import default_registry

PREFIX = "/workflows"


@pytest.fixture(autouse=True, scope="session")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


@dataclass
class Caller:
    """A user and the header that authenticates it."""

    user: User
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        return self.user.username


@pytest.fixture
def make_caller() -> Any:
    """``make_caller("alice", groups=["reviewers"], perms=["start_workflow"], tenant="acme")``

    Needs database access from elsewhere: the ``client`` fixture, or ``db``."""

    def make(
        username: str,
        *,
        groups: tuple[str, ...] | list[str] = (),
        perms: tuple[str, ...] | list[str] = (),
        tenant: str | None = None,
        superuser: bool = False,
    ) -> Caller:
        user = make_user(username, groups=groups, perms=perms, tenant=tenant, superuser=superuser)
        return Caller(user, {"Authorization": f"Bearer {make_token(user)}"})

    return make


class Response:
    """What both transports answer: status, headers and the JSON body."""

    def __init__(self, status_code: int, headers: Any, body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = body

    def json(self) -> Any:
        import json

        return json.loads(self.content)

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.content[:300]!r}>"


class ApiClient:
    """Calls the API at paths relative to its prefix: ``client.get("/tasks", caller)``."""

    transport = ""

    def request(
        self,
        method: str,
        path: str,
        caller: Caller | None = None,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        raise NotImplementedError

    def get(self, path: str, caller: Caller | None = None, **kwargs: Any) -> Response:
        return self.request("GET", path, caller, **kwargs)

    def post(self, path: str, caller: Caller | None = None, **kwargs: Any) -> Response:
        return self.request("POST", path, caller, **kwargs)

    def patch(self, path: str, caller: Caller | None = None, **kwargs: Any) -> Response:
        return self.request("PATCH", path, caller, **kwargs)


class NinjaClient(ApiClient):
    transport = "ninja"

    def __init__(self) -> None:
        from project.api import api

        self.client = TestClient(api)

    def request(self, method, path, caller=None, *, json=None, data=None, headers=None):
        all_headers = {**(caller.headers if caller else {}), **(headers or {})}
        kwargs: dict[str, Any] = {"headers": all_headers}
        if json is not None:
            kwargs["json"] = json
        elif data is not None:
            kwargs["data"] = data
            kwargs["content_type"] = all_headers.get("Content-Type", "application/json")
        answer = self.client.request(method, PREFIX + path, **kwargs)
        return Response(answer.status_code, answer.headers, answer.content)


class HttpClient(ApiClient):
    transport = "http"

    def __init__(self, base_url: str, transport: str = "http") -> None:
        self.base_url = base_url
        self.transport = transport
        self.session = requests.Session()

    def request(self, method, path, caller=None, *, json=None, data=None, headers=None):
        all_headers = {**(caller.headers if caller else {}), **(headers or {})}
        if data is not None:
            all_headers.setdefault("Content-Type", "application/json")
        answer = self.session.request(
            method,
            self.base_url + PREFIX + path,
            json=json,
            data=data,
            headers=all_headers,
            timeout=30,
        )
        return Response(answer.status_code, answer.headers, answer.content)


@pytest.fixture(scope="session")
def live_server_url(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory
) -> Iterator[str]:
    """A uvicorn process serving the demo project (``tests/api/asgi.py``) on the test database."""
    log_dir = tmp_path_factory.mktemp("uvicorn")
    with uvicorn_server(
        "tests.api.asgi:application", log_dir, ready_path="/api/openapi.json"
    ) as url:
        yield url


@pytest.fixture(scope="session")
def litestar_server_url(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory
) -> Iterator[str]:
    """A uvicorn process serving the Litestar adapter (``tests/api/litestar_asgi.py``) on the
    test database."""
    log_dir = tmp_path_factory.mktemp("uvicorn-litestar")
    with uvicorn_server(
        "tests.api.litestar_asgi:app", log_dir, ready_path="/schema/openapi.json"
    ) as url:
        yield url


TRANSPORTS = ["ninja", "http", "litestar"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each test using ``client`` its database: the ``http`` and ``litestar`` runs
    commit their data (the server is another process), so they get a transactional one;
    the ``ninja`` run a rolled-back one. (A mark, because requesting ``db`` from inside a
    fixture does not set up the test database.)"""
    for item in items:
        callspec = getattr(item, "callspec", None)
        transport = callspec.params.get("client") if callspec is not None else None
        if transport is not None and not item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.django_db(transaction=transport != "ninja"))


@pytest.fixture(params=TRANSPORTS)
def client(request: pytest.FixtureRequest) -> ApiClient:
    """The API through ninja's test client, through real HTTP to uvicorn serving the demo
    project, and through real HTTP to uvicorn serving the Litestar adapter."""
    if request.param == "http":
        return HttpClient(request.getfixturevalue("live_server_url") + "/api")
    if request.param == "litestar":
        return HttpClient(request.getfixturevalue("litestar_server_url"), "litestar")
    return NinjaClient()
