"""The "Litestar Integration" example of litestar-workflows' persistence guide, on this app.

Against the guide, only the imports and the engine's construction change: Django's settings
name the database (no SQLAlchemy engine or session), and ``DjangoConnectionMiddleware``
handles Django's connections per request. Two fixes to the guide itself: ``ApprovalWorkflow``,
which it uses without showing, is defined here; and the route's path parameter has its type
(``{name:str}``), without which Litestar refuses to build the application. Two additions:
the adapter's exception handler, so that a name no workflow has is a 404 in the API's
error shape, not a 500; and the OpenAPI docs at /schema are Swagger UI served by the
application itself (``LocalSwaggerRenderPlugin``), where Litestar's default pages load
from CDNs.

Run it from the repository's root, the directory of ``manage.py`` (``python -m`` puts it
on Python's path, so the ``examples`` package is found), with the ``dev`` extra installed::

    python -m django migrate --settings examples.settings
    python -m uvicorn examples.litestar_app:app --port 8001

then, in another terminal (port 8001: ``make run`` serves the demo project on 8000)::

    curl -X POST localhost:8001/workflows/approval/start -d '{"amount": 120}'
    curl -X POST localhost:8001/workflows/no_such_workflow/start -d '{}'

The first answers 201 with the new instance's id and ``"status": "waiting"`` (for the
manager's approval); the second 404, ``{"status_code": 404, "detail": "Workflow
'no_such_workflow' not found", "code": "workflow_not_found", "errors": []}``. The
database is SQLite in ``examples/example.sqlite3``, or ``DATABASE_URL``. The API's
documentation is at http://localhost:8001/schema.
"""

from __future__ import annotations

from litestar import Litestar, post
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    Workflow,
    WorkflowRegistry,
    WorkflowsError,
)
from workflows_app.contrib.litestar import (
    DjangoConnectionMiddleware,
    LocalSwaggerRenderPlugin,
    configure_django,
)

# Database setup: Django's, from a settings module (before anything imports a model).
configure_django("examples.settings")

from workflows_app.contrib.litestar import api_error  # noqa: E402
from workflows_app.db import PersistentExecutionEngine  # noqa: E402


class Submit(BaseMachineStep):
    name = "submit"

    def execute(self, context):
        context.set("submitted", True)


class Approve(BaseHumanStep):
    name = "approve"
    title = "Approve the request"
    assignee_group = "managers"
    form_schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}},
        "required": ["approved"],
    }


class Notify(BaseMachineStep):
    name = "notify"

    def execute(self, context):
        context.set("notified", True)


class ApprovalWorkflow(Workflow):
    name = "approval"
    version = "1.0.0"
    description = "Submit a request, have a manager approve it, notify the requester."
    steps = [Submit, Approve, Notify]
    edges = [("submit", "approve"), ("approve", "notify")]


# Workflow registry
registry = WorkflowRegistry()
registry.register_definition(ApprovalWorkflow.get_definition())
registry.register_workflow_class(ApprovalWorkflow)


async def provide_engine() -> PersistentExecutionEngine:
    """Provide persistent workflow engine."""
    return PersistentExecutionEngine(registry=registry)


@post("/workflows/{name:str}/start")
async def start_workflow(
    name: str,
    data: dict,
    engine: PersistentExecutionEngine,
) -> dict:
    """Start a new workflow instance with persistence."""
    workflow_class = registry.get_workflow_class(name)
    instance = await engine.start_workflow(workflow_class, initial_data=data)
    return {"instance_id": str(instance.id), "status": instance.status.value}


app = Litestar(
    route_handlers=[start_workflow],
    dependencies={
        "engine": Provide(provide_engine),
    },
    middleware=[DjangoConnectionMiddleware],
    # The library's exceptions in the API's error shape: an unknown name is a 404.
    exception_handlers={WorkflowsError: api_error},
    # The docs at /schema, with nothing loaded from another origin.
    openapi_config=OpenAPIConfig(
        title="Approval example", version="1.0.0", render_plugins=[LocalSwaggerRenderPlugin()]
    ),
)
