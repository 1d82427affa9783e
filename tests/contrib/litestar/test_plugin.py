"""WorkflowPlugin and WorkflowPluginConfig: upstream's fields, the DI keys, the routes, guards,
authentication and the plugin's own registry and engine (in process, Litestar's test client)."""

from __future__ import annotations

import dataclasses
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from litestar import Litestar, Request, Response, get
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath
from litestar.testing import TestClient

import workflows_app
from tests.api import workflows as api_workflows
from tests.users import make_user
from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    LocalExecutionEngine,
    Workflow,
    WorkflowRegistry,
)
from workflows_app.api import errors as api_errors
from workflows_app.api import make_token
from workflows_app.api.routes import router as ninja_router
from workflows_app.contrib.litestar import WorkflowPlugin, WorkflowPluginConfig, configure_django
from workflows_app.core.registry import default_registry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import WorkflowInstanceModel
from workflows_app.repositories import HumanTaskRepository, WorkflowInstanceRepository
from workflows_app.services import Actor

DOCS_SRC = Path(__file__).resolve().parents[3] / "docs" / "src"


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(api_workflows)


class Ping(BaseMachineStep):
    name = "ping"

    def execute(self, context):
        context.set("pinged", True)


class PingWorkflow(Workflow):
    name = "ping_only"
    version = "1.0.0"
    steps = [Ping]
    edges = []


def _bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user)}"}


# -- configuration ------------------------------------------------------------------------


def test_config__has_upstreams_fields_and_defaults() -> None:
    config = WorkflowPluginConfig()
    upstream = {
        "registry": None,
        "engine": None,
        "auto_register_workflows": [],
        "dependency_key_registry": "workflow_registry",
        "dependency_key_engine": "workflow_engine",
        "enable_api": True,
        "api_path_prefix": "/workflows",
        "api_guards": [],
        "api_tags": ["Workflows"],
        "include_api_in_schema": True,
    }
    names = [f.name for f in dataclasses.fields(WorkflowPluginConfig)]
    assert names[: len(upstream)] == list(upstream)
    assert {name: getattr(config, name) for name in upstream} == upstream
    assert names[len(upstream) :] == ["authenticate"]  # additions come after
    assert WorkflowPluginConfig().api_tags is not config.api_tags  # no shared defaults


def test_top_level_lazy_names__are_the_adapters() -> None:
    assert workflows_app.WorkflowPlugin is WorkflowPlugin
    assert workflows_app.WorkflowPluginConfig is WorkflowPluginConfig


def test_plugin__registry_and_engine__raise_before_the_app_is_built() -> None:
    plugin = WorkflowPlugin()
    with pytest.raises(RuntimeError, match="WorkflowPlugin has not been initialized"):
        _ = plugin.registry
    with pytest.raises(RuntimeError, match="WorkflowPlugin has not been initialized"):
        _ = plugin.engine
    Litestar(plugins=[plugin])
    assert plugin.registry is default_registry
    assert isinstance(plugin.engine, PersistentExecutionEngine)
    assert plugin.engine.registry is default_registry


def test_plugin__registers_auto_register_workflows_in_its_registry() -> None:
    registry = WorkflowRegistry()
    plugin = WorkflowPlugin(
        WorkflowPluginConfig(registry=registry, auto_register_workflows=[PingWorkflow])
    )
    Litestar(plugins=[plugin])
    assert plugin.registry is registry
    assert registry.get_workflow_class("ping_only") is PingWorkflow
    assert plugin.engine.registry is registry


# -- dependency injection -----------------------------------------------------------------


@get("/deps", sync_to_thread=False)
def _deps(
    workflow_registry: NamedDependency[Any],
    workflow_engine: NamedDependency[Any],
    workflow_instance_repo: NamedDependency[Any],
    human_task_repo: NamedDependency[Any],
) -> dict[str, str]:
    return {
        "registry": type(workflow_registry).__name__,
        "engine": type(workflow_engine).__name__,
        "instances": type(workflow_instance_repo).__name__,
        "tasks": type(human_task_repo).__name__,
    }


def test_plugin__provides_registry_engine_and_real_repositories() -> None:
    app = Litestar(route_handlers=[_deps], plugins=[WorkflowPlugin()])
    with TestClient(app) as client:
        answer = client.get("/deps")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "registry": "WorkflowRegistry",
        "engine": "PersistentExecutionEngine",
        "instances": WorkflowInstanceRepository.__name__,
        "tasks": HumanTaskRepository.__name__,
    }


@get("/custom", sync_to_thread=False)
def _custom(
    registry: NamedDependency[Any],
    engine: NamedDependency[Any],
    workflow_instance_repo: NamedDependency[Any],
) -> dict[str, Any]:
    return {"engine": type(engine).__name__, "repo": workflow_instance_repo}


def test_plugin__custom_keys_and_an_apps_own_repository_provider() -> None:
    registry = WorkflowRegistry()
    engine = LocalExecutionEngine(registry)
    config = WorkflowPluginConfig(
        registry=registry,
        engine=engine,
        dependency_key_registry="registry",
        dependency_key_engine="engine",
    )
    app = Litestar(
        route_handlers=[_custom],
        plugins=[WorkflowPlugin(config)],
        # Upstream's plugin replaced this with a placeholder that always raised.
        dependencies={"workflow_instance_repo": Provide(lambda: "mine", sync_to_thread=False)},
    )
    with TestClient(app) as client:
        answer = client.get("/custom")
    assert answer.json() == {"engine": "LocalExecutionEngine", "repo": "mine"}


@get("/start/{name:str}")
async def _start(name: FromPath[str], workflow_registry: NamedDependency[Any]) -> str:
    return workflow_registry.get_workflow_class(name).__name__


def test_plugin__an_apps_own_route__library_errors_in_the_api_shape() -> None:
    """An unknown workflow name in a route of the application's own: 404 in the API's shape,
    not a 500; an application's own handler for library errors is kept."""
    app = Litestar(route_handlers=[_start], plugins=[WorkflowPlugin()])
    with TestClient(app) as client:
        answer = client.get("/start/no_such_workflow")
    assert answer.status_code == 404, answer.text
    assert answer.json() == {
        "status_code": 404,
        "detail": "Workflow 'no_such_workflow' not found",
        "code": "workflow_not_found",
        "errors": [],
    }

    def mine(request: Any, exc: Exception) -> Response[str]:
        return Response("mine", status_code=418)

    app = Litestar(
        route_handlers=[_start],
        plugins=[WorkflowPlugin()],
        exception_handlers={workflows_app.WorkflowsError: mine},
    )
    with TestClient(app) as client:
        assert client.get("/start/no_such_workflow").status_code == 418


@get("/whoami")
async def _whoami(
    request: Request[Any, Any, Any], workflow_actor: NamedDependency[Actor]
) -> dict[str, Any]:
    return {
        "user_id": workflow_actor.user_id,
        "tenant_id": workflow_actor.tenant_id,
        "groups": sorted(workflow_actor.groups),
        "request.user": request.user.username,
    }


@pytest.mark.django_db(transaction=True)
def test_plugin__workflow_actor__the_caller_as_the_api_authenticates_it() -> None:
    ann = make_user("ann", groups=["approvers"], tenant="acme")
    app = Litestar(route_handlers=[_whoami], plugins=[WorkflowPlugin()])
    with TestClient(app) as client:
        answer = client.get("/whoami", headers=_bearer(ann))
        refusals = [
            client.get("/whoami", headers=headers)
            for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"X-User": "ann"})
        ]
    assert answer.json() == {
        "user_id": "ann",
        "tenant_id": "acme",
        "groups": ["approvers", "tenant:acme"],
        "request.user": "ann",
    }
    for refused in refusals:
        assert refused.status_code == 401, refused.text
        assert refused.json() == {
            "status_code": 401,
            "detail": api_errors.UNAUTHENTICATED,
            "code": "unauthenticated",
            "errors": [],
        }
        assert refused.headers["www-authenticate"] == "Bearer"

    # With the application's own authentication, that one.
    def from_header(connection: ASGIConnection) -> Any:
        return User.objects.filter(username=connection.headers.get("x-user", "")).first()

    config = WorkflowPluginConfig(authenticate=from_header)
    app = Litestar(route_handlers=[_whoami], plugins=[WorkflowPlugin(config)])
    with TestClient(app) as client:
        assert client.get("/whoami", headers={"X-User": "ann"}).json()["user_id"] == "ann"
        assert client.get("/whoami", headers=_bearer(ann)).status_code == 401


class Invoice(BaseHumanStep):
    name = "approve_invoice"
    assignee_group = "approvers"

    def get_title(self, context):
        return f"Approve {context.get('invoice')}"


class InvoiceWorkflow(Workflow):
    name = "docs_sample_invoice"
    version = "1.0.0"
    steps = [Invoice]
    edges = []


@pytest.fixture
def _invoice_workflow() -> Any:
    default_registry.register(InvoiceWorkflow)
    yield
    default_registry.unregister(InvoiceWorkflow.name)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_invoice_workflow")
def test_docs_sample__my_inbox__needs_a_token__shows_the_callers_tenant_only() -> None:
    """The route of the plugin's sample in the docs (docs/src/litestar_plugin.py), as users
    copy it: each caller sees the tasks of their tenant; a caller without a tenant, those
    without one."""
    app = runpy.run_path(str(DOCS_SRC / "litestar_plugin.py"), run_name="docs_snippet")["app"]
    engine = PersistentExecutionEngine(default_registry)
    for tenant in ("acme", "globex", None):
        engine.start_workflow_sync(
            InvoiceWorkflow.name, {"invoice": f"{tenant or 'no one'}'s invoice"}, tenant_id=tenant
        )
    callers = {
        "ann": make_user("ann", groups=["approvers"], tenant="acme"),
        "gus": make_user("gus", groups=["approvers"], tenant="globex"),
        "nora": make_user("nora", groups=["approvers"]),
        "otto": make_user("otto", groups=["drivers"], tenant="acme"),
    }
    with TestClient(app) as client:
        refused = client.get("/my-inbox")
        inboxes = {
            name: client.get("/my-inbox", headers=_bearer(user)).json()
            for name, user in callers.items()
        }
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "unauthenticated"
    assert inboxes == {
        "ann": ["Approve acme's invoice"],
        "gus": ["Approve globex's invoice"],
        "nora": ["Approve no one's invoice"],
        "otto": [],  # acme's, but not an approver
    }


# -- the routes -----------------------------------------------------------------------------


def _litestar_routes(app: Litestar, prefix: str) -> set[tuple[str, str]]:
    import re

    return {
        (method, re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)[len(prefix) :])
        for route in app.routes
        if route.path.startswith(prefix + "/")
        for method in route.methods
        if method not in ("HEAD", "OPTIONS")
    }


def test_api__the_same_routes_as_the_ninja_api() -> None:
    app = Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(api_path_prefix="/api/wf"))])
    ninja = {
        (method, path)
        for path, view in ninja_router.path_operations.items()
        for operation in view.operations
        for method in operation.methods
        if operation.include_in_schema  # not the 404 and 405 answers
    }
    assert _litestar_routes(app, "/api/wf") == ninja


def test_api__disabled__no_routes_but_the_dependencies() -> None:
    app = Litestar(
        route_handlers=[_deps], plugins=[WorkflowPlugin(WorkflowPluginConfig(enable_api=False))]
    )
    assert _litestar_routes(app, "/workflows") == set()
    with TestClient(app) as client:
        assert client.get("/workflows/definitions").status_code == 404
        assert client.get("/deps").json()["instances"] == WorkflowInstanceRepository.__name__


def test_api__openapi_tags_and_include_in_schema() -> None:
    app = Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(api_tags=["Flows"]))])
    paths = app.openapi_schema.to_schema()["paths"]
    assert set(paths["/workflows/tasks"]["get"]["tags"]) == {"Flows", "Human Tasks"}
    assert set(paths["/workflows/instances"]["post"]["tags"]) == {"Flows", "Workflow Instances"}
    assert set(paths["/workflows/definitions"]["get"]["tags"]) == {"Flows", "Workflow Definitions"}
    assert set(paths["/workflows/messages"]["post"]["tags"]) == {"Flows", "Messages"}
    # 17, the four suspension routes, send back, withdraw, messages, the two of comments,
    # delegate and resolve
    assert len([path for path in paths if path.startswith("/workflows/")]) == 28

    hidden = Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(include_api_in_schema=False))])
    assert not [
        path
        for path in (hidden.openapi_schema.to_schema().get("paths") or {})
        if path.startswith("/workflows")
    ]
    with TestClient(hidden) as client:
        assert client.get("/workflows/tasks").status_code == 401  # served, not documented


# -- guards, authentication, the plugin's own engine (the database) ----------------------


def _only_the_boss(connection: ASGIConnection, _handler: Any) -> None:
    if connection.user.username != "boss":
        raise PermissionDeniedException("Only the boss")


@pytest.mark.django_db(transaction=True)
def test_api__guards_see_the_django_user__refusals_in_the_api_shape() -> None:
    boss = User.objects.create_user("boss")
    clerk = User.objects.create_user("clerk")
    app = Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(api_guards=[_only_the_boss]))])
    with TestClient(app) as client:
        assert client.get("/workflows/tasks", headers=_bearer(boss)).status_code == 200
        refused = client.get("/workflows/tasks", headers=_bearer(clerk))
        assert refused.status_code == 403
        assert refused.json() == {
            "status_code": 403,
            "detail": "Only the boss",
            "code": "forbidden",
            "errors": [],
        }
        # Authentication comes first, as on the ninja face.
        assert client.get("/workflows/tasks").status_code == 401
        # The webhook callback's token is its only credential: no guard.
        webhook = client.post("/workflows/webhooks/no-such-token", json={})
        assert webhook.json()["code"] == "callback_not_found"


@pytest.mark.django_db(transaction=True)
def test_api__a_custom_authenticate_callable() -> None:
    User.objects.create_user("gateway-user")

    def from_gateway(connection: ASGIConnection) -> Any:
        # Runs in the request's Django thread: it may query.
        name = connection.headers.get("x-authenticated-user")
        return User.objects.filter(username=name).first() if name else None

    app = Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(authenticate=from_gateway))])
    with TestClient(app) as client:
        assert (
            client.get(
                "/workflows/tasks", headers={"X-Authenticated-User": "gateway-user"}
            ).status_code
            == 200
        )
        assert (
            client.get("/workflows/tasks", headers={"X-Authenticated-User": "nobody"}).status_code
            == 401
        )


@pytest.mark.django_db(transaction=True)
def test_api__runs_on_the_plugins_registry_and_engine() -> None:
    registry = WorkflowRegistry()
    config = WorkflowPluginConfig(
        registry=registry,
        engine=LocalExecutionEngine(registry),  # the API runs on a persistent one anyway
        auto_register_workflows=[PingWorkflow],
    )
    user = User.objects.create_superuser("root")
    app = Litestar(plugins=[WorkflowPlugin(config)])
    with TestClient(app) as client:
        listed = client.get("/workflows/definitions", headers=_bearer(user))
        assert [definition["name"] for definition in listed.json()] == ["ping_only"]
        started = client.post(
            "/workflows/instances", json={"definition_name": "ping_only"}, headers=_bearer(user)
        )
        assert started.status_code == 201, started.text
        assert started.json()["status"] == "completed"
        # The default registry's workflows are not this application's.
        other = client.post(
            "/workflows/instances", json={"definition_name": "api_review"}, headers=_bearer(user)
        )
        assert other.status_code == 404
    row = WorkflowInstanceModel.objects.get(pk=started.json()["id"])
    assert row.context_data["pinged"] is True


# -- configure_django ---------------------------------------------------------------------


def test_configure_django__once_set_up_does_nothing() -> None:
    configure_django("another.module")  # already set up: ignored
    assert settings.SETTINGS_MODULE == os.environ["DJANGO_SETTINGS_MODULE"]
    with pytest.raises(TypeError):
        configure_django("a.module", DEBUG=True)


SETTINGS_DICT_SCRIPT = """
from litestar import Litestar
from litestar.testing import TestClient
from workflows_app.contrib.litestar import WorkflowPlugin, configure_django

try:
    Litestar(plugins=[WorkflowPlugin()])
except RuntimeError as exc:
    assert "configure_django" in str(exc), exc
else:
    raise AssertionError("built without Django")

configure_django(
    SECRET_KEY="s" * 50,
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
configure_django(SECRET_KEY="ignored")  # set up already: nothing happens
from django.conf import settings
assert settings.INSTALLED_APPS == [
    "django.contrib.contenttypes", "django.contrib.auth", "workflows_app"
], settings.INSTALLED_APPS
with TestClient(Litestar(plugins=[WorkflowPlugin()])) as client:
    answer = client.get("/workflows/definitions")
    assert answer.status_code == 401, answer.text
print("ok")
"""


def test_configure_django__from_a_settings_dict_in_a_fresh_process() -> None:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", SETTINGS_DICT_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=settings.BASE_DIR,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_api__openapi_documents_the_ninja_faces_parameters_and_bodies() -> None:
    """Litestar's schema lists each route's input as the ninja face's does: the same path
    and query parameters, the query parameters with the same schemas (pydantic's), and
    the same body fields."""
    from project.api import api as ninja_api

    app = Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig())])
    litestar_schema = app.openapi_schema.to_schema()
    ninja_schema = ninja_api.get_openapi_schema()

    def resolver(schema: dict) -> Any:
        components = schema.get("components", {}).get("schemas", {})

        def resolve(found: dict) -> dict:
            ref = found.get("$ref")
            return components[ref.rsplit("/", 1)[-1]] if ref else found

        return resolve

    def inputs(operation: dict, resolve: Any) -> tuple[dict, set[str], set[str] | None]:
        parameters = operation.get("parameters", [])
        query = {p["name"]: _bare(p["schema"]) for p in parameters if p["in"] == "query"}
        path = {p["name"] for p in parameters if p["in"] == "path"}
        body = operation.get("requestBody")
        if body is None:
            return query, path, None
        schema = resolve(body["content"]["application/json"]["schema"])
        return query, path, set(schema.get("properties", {}))

    compared = 0
    for path, operations in ninja_schema["paths"].items():
        if not path.startswith("/api/workflows/"):
            continue
        litestar_path = path.removeprefix("/api")
        for method, operation in operations.items():
            theirs = litestar_schema["paths"][litestar_path][method]
            assert inputs(theirs, resolver(litestar_schema)) == inputs(
                operation, resolver(ninja_schema)
            ), (method, path)
            compared += 1
    # 18, the four suspension routes, send back, withdraw, messages, the three of comments,
    # delegate and resolve
    assert compared == 30


def test_api__openapi_lists_declare_their_total_header() -> None:
    app = Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig())])
    paths = app.openapi_schema.to_schema()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            headers = operation["responses"].get("200", {}).get("headers", {})
            if (method, path) in (("get", "/workflows/instances"), ("get", "/workflows/tasks")):
                assert headers["X-Total-Count"]["schema"] == {"type": "integer"}, path
            else:
                assert "X-Total-Count" not in headers, (method, path)


def _bare(schema: dict) -> dict:
    """A parameter's schema without what only documents it (ninja and pydantic title it)."""
    return {key: value for key, value in schema.items() if key not in ("title", "description")}


@pytest.mark.django_db(transaction=True)
def test_api__an_engine_failure_is_a_500__a_refusal_is_not() -> None:
    """A library error that is not the caller's (the engine failed) stays Litestar's 500;
    one that is answers in the API's shape, from the same exception handler."""
    from workflows_app.api import operations
    from workflows_app.core.exceptions import WorkflowsError, WorkflowStateError

    user = User.objects.create_superuser("root")
    app = Litestar(plugins=[WorkflowPlugin()], debug=False)
    with TestClient(app) as client:
        with mock.patch.object(operations, "list_definitions", side_effect=WorkflowsError("x")):
            failed = client.get("/workflows/definitions", headers=_bearer(user))
        with mock.patch.object(
            operations, "list_definitions", side_effect=WorkflowStateError("not now")
        ):
            refused = client.get("/workflows/definitions", headers=_bearer(user))
    assert (failed.status_code, failed.json()) == (
        500,
        {"status_code": 500, "detail": "Internal Server Error"},
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "conflict")
