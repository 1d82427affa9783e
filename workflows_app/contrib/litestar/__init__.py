"""The Litestar adapter: litestar-workflows' plugin and REST API, on this app's engine.

.. code-block:: python

    from workflows_app.contrib.litestar import WorkflowPlugin, WorkflowPluginConfig
    from workflows_app.contrib.litestar import configure_django

    configure_django("mysite.settings")  # before anything imports a model

    app = Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(api_path_prefix="/workflows"))])

Needs the ``litestar`` extra: ``pip install 'django-workflows-app[litestar]'``. Importing
this package needs no Django set-up; ``api_error``, the exception handler that answers
the library's exceptions in the API's error shape, is imported on first use, once Django
is set up (``Litestar(exception_handlers={WorkflowsError: api_error})``, for an
application without the plugin, which installs it).
"""

from __future__ import annotations

from typing import Any

from workflows_app.contrib.litestar.openapi import LocalSwaggerRenderPlugin
from workflows_app.contrib.litestar.plugin import WorkflowPlugin, WorkflowPluginConfig
from workflows_app.contrib.litestar.runtime import (
    DjangoConnectionMiddleware,
    configure_django,
    run_in_django,
)

__all__ = [
    "DjangoConnectionMiddleware",
    "LocalSwaggerRenderPlugin",
    "WorkflowPlugin",
    "WorkflowPluginConfig",
    "api_error",
    "configure_django",
    "run_in_django",
]


def __getattr__(name: str) -> Any:
    if name == "api_error":  # imports Django models: once Django is set up
        from workflows_app.contrib.litestar.refusals import api_error

        return api_error
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
