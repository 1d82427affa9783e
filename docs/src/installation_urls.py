# Mounting the REST API in a project's urls.py (docs/installation.rst).
from __future__ import annotations

from django.urls import path
from ninja import NinjaAPI

import workflows_app.api

api = NinjaAPI(title="My project")
workflows_app.api.register(api)  # the workflow routes at /workflows (prefix="/wf" to move them)

urlpatterns = [
    # ... the project's other URLs, the admin's among them
    path("api/", api.urls),
]

# Check it: the routes answer under /api/workflows/, and want credentials.
import types  # noqa: E402

from django.test import Client, override_settings  # noqa: E402

urls = types.ModuleType("snippet_urls")
urls.urlpatterns = urlpatterns
with override_settings(ROOT_URLCONF=urls):
    answer = Client().get("/api/workflows/tasks")
    assert answer.status_code == 401, answer
    assert answer.json()["code"] == "unauthenticated"
    assert "/api/workflows/tasks" in Client().get("/api/openapi.json").json()["paths"]
