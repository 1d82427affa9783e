"""What the send back and compensation browser tests' uvicorn process serves: the demo
project (static files included), plus the API tests' workflows (``api_rework``: ``write``,
then ``check``, which may send the report back to ``write``; ``api_saga``; ``api_subflow``)."""

from __future__ import annotations

from project.asgi import application
from tests.api import workflows  # after Django is set up: it imports models
from workflows_app.core.registry import default_registry

__all__ = ["application"]

default_registry.register_module(workflows)
