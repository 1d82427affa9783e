"""``WorkflowPlugin``: the engine, the registry and the repositories for Litestar's
dependency injection, and the REST API's routes.

The names, fields and defaults are litestar-workflows' (``plugin.py``). Importing this
module needs no Django set-up; building an application with the plugin does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from litestar.di import Provide
from litestar.plugins import InitPluginProtocol

from workflows_app.contrib.litestar.runtime import DjangoConnectionMiddleware

if TYPE_CHECKING:
    from litestar.config.app import AppConfig

    from workflows_app.core.registry import WorkflowRegistry

__all__ = ["WorkflowPlugin", "WorkflowPluginConfig"]

INSTANCE_REPOSITORY_KEY = "workflow_instance_repo"
TASK_REPOSITORY_KEY = "human_task_repo"
ACTOR_KEY = "workflow_actor"


@dataclass
class WorkflowPluginConfig:
    """How :class:`WorkflowPlugin` sets the application up.

    ``registry``: where workflows are looked up; default: the registry the ``workflows``
    modules of installed Django apps are registered in (which the admin, the ninja API and
    ``manage.py workflows_worker`` use too). ``engine``: what the ``workflow_engine``
    dependency gives; default: a :class:`~workflows_app.engine.persistent.PersistentExecutionEngine`
    on the registry. ``authenticate`` (added): who calls the API, a callable taking the
    connection and returning a Django user or None, run in the request's Django thread
    (it may query); default: a bearer token from ``manage.py workflows_token``.
    """

    registry: WorkflowRegistry | None = None
    engine: Any | None = None
    auto_register_workflows: list[type] = field(default_factory=list)
    dependency_key_registry: str = "workflow_registry"
    dependency_key_engine: str = "workflow_engine"
    enable_api: bool = True
    api_path_prefix: str = "/workflows"
    api_guards: list[Any] = field(default_factory=list)
    api_tags: list[str] = field(default_factory=lambda: ["Workflows"])
    include_api_in_schema: bool = True
    authenticate: Callable[[Any], Any] | None = None


class WorkflowPlugin(InitPluginProtocol):
    """Add workflows to a Litestar application: ``Litestar(plugins=[WorkflowPlugin()])``.

    Django must be set up first (:func:`~workflows_app.contrib.litestar.configure_django`).
    The plugin provides the dependencies ``workflow_registry`` and ``workflow_engine``
    (under the configured keys), ``workflow_instance_repo``, ``human_task_repo`` and
    ``workflow_actor``, the authenticated caller (unless the application provides them
    itself), installs
    :class:`~workflows_app.contrib.litestar.DjangoConnectionMiddleware`, answers the
    library's exceptions in the application's routes as the API does (an unknown workflow
    is a 404, not a 500), and with ``enable_api`` mounts the REST API under
    ``api_path_prefix``.
    """

    def __init__(self, config: WorkflowPluginConfig | None = None) -> None:
        self._config = config if config is not None else WorkflowPluginConfig()
        self._registry: WorkflowRegistry | None = None
        self._engine: Any | None = None

    @property
    def config(self) -> WorkflowPluginConfig:
        return self._config

    @property
    def registry(self) -> WorkflowRegistry:
        """The registry in use (once the application is built)."""
        if self._registry is None:
            raise RuntimeError(_NOT_INITIALIZED)
        return self._registry

    @property
    def engine(self) -> Any:
        """The engine in use (once the application is built)."""
        if self._engine is None:
            raise RuntimeError(_NOT_INITIALIZED)
        return self._engine

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        _require_django()
        from workflows_app.contrib.litestar.gate import (
            NotAuthenticated,
            actor_provider,
            bearer_token_user,
        )
        from workflows_app.contrib.litestar.refusals import api_error
        from workflows_app.core.exceptions import WorkflowsError
        from workflows_app.core.registry import default_registry
        from workflows_app.engine.persistent import PersistentExecutionEngine

        config = self._config
        registry = config.registry if config.registry is not None else default_registry
        engine = config.engine if config.engine is not None else PersistentExecutionEngine(registry)
        for workflow_class in config.auto_register_workflows:
            registry.register(workflow_class)
        self._registry, self._engine = registry, engine

        dependencies = app_config.dependencies
        dependencies[config.dependency_key_registry] = Provide(
            self._provide_registry, sync_to_thread=False
        )
        dependencies[config.dependency_key_engine] = Provide(
            self._provide_engine, sync_to_thread=False
        )
        # Unlike upstream's placeholders, real repositories; and an application's own
        # provider under the same key is kept.
        dependencies.setdefault(
            INSTANCE_REPOSITORY_KEY, Provide(self._provide_instance_repo, sync_to_thread=False)
        )
        dependencies.setdefault(
            TASK_REPOSITORY_KEY, Provide(self._provide_task_repo, sync_to_thread=False)
        )
        authenticate = config.authenticate or bearer_token_user
        dependencies.setdefault(ACTOR_KEY, Provide(actor_provider(authenticate)))
        # The application's own routes answer what the library raises as the API does (an
        # unknown workflow name: 404, a task completed twice: 409), not with a 500.
        handlers = app_config.exception_handlers
        handlers.setdefault(WorkflowsError, api_error)
        handlers.setdefault(NotAuthenticated, api_error)
        if DjangoConnectionMiddleware not in app_config.middleware:
            app_config.middleware.insert(0, DjangoConnectionMiddleware)

        if config.enable_api:
            from workflows_app.contrib.litestar.controllers import build_routers
            from workflows_app.contrib.litestar.refusals import routing_errors
            from workflows_app.services import WorkflowService

            # The API needs the database: a configured in-memory engine serves the
            # dependency only, and the API runs on a persistent engine on the same registry.
            if not isinstance(engine, PersistentExecutionEngine):
                engine = PersistentExecutionEngine(registry)
            app_config.route_handlers.extend(
                build_routers(
                    path=config.api_path_prefix,
                    service=WorkflowService(engine),
                    authenticate=authenticate,
                    guards=list(config.api_guards),
                    tags=list(config.api_tags),
                    include_in_schema=config.include_api_in_schema,
                )
            )
            app_config.exception_handlers.update(
                routing_errors(config.api_path_prefix, app_config.exception_handlers)
            )
        return app_config

    def _provide_registry(self) -> Any:
        return self.registry

    def _provide_engine(self) -> Any:
        return self.engine

    def _provide_instance_repo(self) -> Any:
        from workflows_app.repositories import WorkflowInstanceRepository

        return WorkflowInstanceRepository(using=getattr(self.engine, "using", None))

    def _provide_task_repo(self) -> Any:
        from workflows_app.repositories import HumanTaskRepository

        return HumanTaskRepository(using=getattr(self.engine, "using", None))


_NOT_INITIALIZED = (
    "WorkflowPlugin has not been initialized. Pass it to Litestar(plugins=[...]); its "
    "registry and engine exist once the application is built."
)


def _require_django() -> None:
    from django.apps import apps

    if apps.ready:
        return
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        from workflows_app.contrib.litestar.runtime import configure_django

        configure_django()
        return
    raise RuntimeError(
        "Django is not set up: call workflows_app.contrib.litestar.configure_django() "
        "(with a settings module or settings) before building the Litestar application."
    )
