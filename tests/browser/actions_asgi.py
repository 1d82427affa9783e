"""What the action link and N-of-M browser tests' uvicorn process serves: the demo project
(static files included, action links on through ``WORKFLOWS_*`` variables), plus the API
tests' workflows (``api_board``, ``api_rework``) and ``action_link_report``."""

from __future__ import annotations

from project.asgi import application
from tests import action_link_workflows
from tests.api import workflows  # after Django is set up: it imports models
from workflows_app.core.registry import default_registry

__all__ = ["application"]

default_registry.register_module(workflows)
default_registry.register_module(action_link_workflows)
