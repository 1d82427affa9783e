"""What the API tests' uvicorn process serves: the demo project, plus the tests' workflows."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = get_asgi_application()

from tests.api import workflows  # noqa: E402  (after Django is set up: it imports models)
from workflows_app.core.registry import default_registry  # noqa: E402

default_registry.register_module(workflows)
