# A Litestar application with the workflow plugin (docs/litestar.rst).
from __future__ import annotations

from litestar import Litestar, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from workflows_app.contrib.litestar import WorkflowPlugin, WorkflowPluginConfig, configure_django

# Before anything imports a model: Django's settings (here the demo project's).
configure_django("project.settings")

from workflows_app.repositories import HumanTaskRepository  # noqa: E402


@get("/my-inbox/{group:str}")
async def my_inbox(
    group: FromPath[str], human_task_repo: NamedDependency[HumanTaskRepository]
) -> list[str]:
    """A route of your own, with a repository from the plugin."""
    tasks = await human_task_repo.find_pending(assignee_group=group)
    return [task.title for task in tasks]


app = Litestar(
    route_handlers=[my_inbox],
    plugins=[WorkflowPlugin(WorkflowPluginConfig(api_path_prefix="/workflows"))],
)

# Check it: the API is mounted, documented, and wants a token.
from litestar.testing import TestClient  # noqa: E402

with TestClient(app) as client:
    assert client.get("/workflows/definitions").status_code == 401
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert {"/workflows/tasks", "/workflows/instances", "/my-inbox/{group}"} <= set(paths)
