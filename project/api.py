"""The demo project's REST API: the workflow routes at /api/workflows/, docs at /api/docs."""

from __future__ import annotations

from ninja import NinjaAPI, Router

import workflows_app
import workflows_app.api

api = NinjaAPI(
    title="workflows_app demo",
    version=workflows_app.__version__,
    description="Durable, human-in-the-loop workflows: definitions, instances and a task inbox.",
)
workflows_app.api.register(api)

# Everything else under /api/ (the root included) answers in the API's error shape too.
other_paths = Router()
workflows_app.api.answer_unknown_paths(other_paths, root=True)
api.add_router("", other_paths)
