"""The Litestar adapter: litestar-workflows' plugin and REST API, on this app's engine.

.. code-block:: python

    from workflows_app.contrib.litestar import WorkflowPlugin, WorkflowPluginConfig
    from workflows_app.contrib.litestar import configure_django

    configure_django("mysite.settings")  # before anything imports a model

    app = Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(api_path_prefix="/workflows"))])

Needs the ``litestar`` extra: ``pip install 'django-workflows-app[litestar]'``. Nothing
imported here needs Django to be set up.
"""

from __future__ import annotations

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
    "configure_django",
    "run_in_django",
]
