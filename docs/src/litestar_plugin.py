# A Litestar application with the workflow plugin (docs/litestar.rst).
from __future__ import annotations

from litestar import Litestar, get
from litestar.di import NamedDependency

from workflows_app.contrib.litestar import (
    WorkflowPlugin,
    WorkflowPluginConfig,
    configure_django,
    run_in_django,
)

# Before anything imports a model: Django's settings (here the demo project's).
configure_django("project.settings")

from workflows_app.services import Actor, TaskFilter, get_service  # noqa: E402


@get("/my-inbox")
async def my_inbox(workflow_actor: NamedDependency[Actor]) -> list[str]:
    """A route of your own: the titles of the tasks offered to the caller, in the caller's
    tenant. ``workflow_actor`` is the caller, authenticated as the API authenticates."""
    inbox = get_service().inbox  # the API's inbox, with its rules: groups, tenant
    tasks, _ = await run_in_django(inbox, workflow_actor, TaskFilter(), count=False)
    return [task.title for task in tasks]


app = Litestar(
    route_handlers=[my_inbox],
    plugins=[WorkflowPlugin(WorkflowPluginConfig(api_path_prefix="/workflows"))],
)

# Check it: the API is mounted and documented; it and the route want a token.
from litestar.testing import TestClient  # noqa: E402

with TestClient(app) as client:
    for path in ("/workflows/definitions", "/my-inbox"):
        refused = client.get(path)
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == "unauthenticated"
        assert refused.headers["www-authenticate"] == "Bearer"
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert {"/workflows/tasks", "/workflows/instances", "/my-inbox"} <= set(paths)
