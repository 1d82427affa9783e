"""What the API tests' Litestar process serves: the plugin's API at /workflows, on the demo
project's settings (the test database, via DATABASE_NAME), with the tests' workflows."""

from __future__ import annotations

from litestar import Litestar

from workflows_app.contrib.litestar import WorkflowPlugin, WorkflowPluginConfig, configure_django

configure_django("project.settings")

from tests.api import workflows  # noqa: E402  (after Django is set up: it imports models)
from workflows_app.core.registry import default_registry  # noqa: E402

default_registry.register_module(workflows)

app = Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(api_path_prefix="/workflows"))])
