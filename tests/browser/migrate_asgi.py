"""What the migration browser test's uvicorn process serves: the demo project (static
files included), plus the two versions of ``mig_doc`` (``tests/admin/migrate_workflows.py``)."""

from __future__ import annotations

from project.asgi import application
from tests.admin import migrate_workflows  # after Django is set up: it imports models
from workflows_app.core.registry import default_registry

__all__ = ["application"]

default_registry.register_module(migrate_workflows)
