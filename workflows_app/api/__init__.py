"""The REST API, for django-ninja: mount it on the project's ``NinjaAPI``.

.. code-block:: python

    from ninja import NinjaAPI
    import workflows_app.api

    api = NinjaAPI()
    workflows_app.api.register(api)          # the routes under /workflows/

    urlpatterns = [path("api/", api.urls)]
"""

from __future__ import annotations

from ninja import NinjaAPI

from workflows_app.api import errors
from workflows_app.api.auth import make_token
from workflows_app.api.routes import answer_unknown_paths, router

__all__ = ["answer_unknown_paths", "make_token", "register", "router"]


def register(api: NinjaAPI, prefix: str = "/workflows") -> None:
    """Mount the workflow routes on ``api`` at ``prefix`` and install their error answers.

    The error handlers only change the answers of these routes; the rest of ``api``
    keeps its own.
    """
    api.add_router(prefix, router)
    errors.install(api)
