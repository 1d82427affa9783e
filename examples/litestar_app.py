"""The "Litestar Integration" example of litestar-workflows' persistence guide, on this app.

Against the guide, only the imports and the engine's construction change: Django's settings
name the database (no SQLAlchemy engine or session), and ``DjangoConnectionMiddleware``
handles Django's connections per request. Two fixes to the guide itself: ``ApprovalWorkflow``,
which it uses without showing, is defined here; and the route's path parameter has its type
(``{name:str}``), without which Litestar refuses to build the application. One addition: the
OpenAPI docs at /schema are Swagger UI served by the application itself
(``LocalSwaggerRenderPlugin``), where Litestar's default pages load from CDNs.

Run it: ``DJANGO_SETTINGS_MODULE=examples.settings django-admin migrate``, then
``uvicorn examples.litestar_app:app``, then
``curl -X POST localhost:8000/workflows/approval/start -d '{"amount": 120}'``, or open
http://localhost:8000/schema.
"""

from __future__ import annotations

from litestar import Litestar, post
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from workflows_app import BaseHumanStep, BaseMachineStep, Workflow, WorkflowRegistry
from workflows_app.contrib.litestar import (
    DjangoConnectionMiddleware,
    LocalSwaggerRenderPlugin,
    configure_django,
)

# Database setup: Django's, from a settings module (before anything imports a model).
configure_django("examples.settings")

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
    # The docs at /schema, with nothing loaded from another origin.
    openapi_config=OpenAPIConfig(
        title="Approval example", version="1.0.0", render_plugins=[LocalSwaggerRenderPlugin()]
    ),
)
