"""Django inside a Litestar application: configuring it, and its connections per request.

Nothing here imports a model, so an application can import it before Django is set up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async

__all__ = ["DjangoConnectionMiddleware", "configure_django", "run_in_django"]

T = TypeVar("T")

# Apps the engine cannot run without; a settings dict gets them if it does not list them.
REQUIRED_APPS = ("django.contrib.contenttypes", "django.contrib.auth", "workflows_app")


def configure_django(settings_module: str | None = None, **settings: Any) -> None:
    """Set Django up for a Litestar application, before anything imports a model.

    ``configure_django("mysite.settings")`` uses a settings module (an existing
    ``DJANGO_SETTINGS_MODULE`` wins, as in ``manage.py``); ``configure_django(DATABASES=...,
    SECRET_KEY=...)`` configures Django from keyword settings, adding the apps the engine
    needs (contenttypes, auth, workflows_app) to ``INSTALLED_APPS``; with neither,
    ``DJANGO_SETTINGS_MODULE`` must name the module. Once Django is set up, later calls do
    nothing, so importing two modules that both call it is harmless.
    """
    import django
    from django.apps import apps
    from django.conf import settings as django_settings

    if settings_module is not None and settings:
        raise TypeError("configure_django() takes a settings module or settings, not both")
    if apps.ready:
        return
    if settings and not django_settings.configured:
        installed = list(settings.get("INSTALLED_APPS", ()))
        installed += [app for app in REQUIRED_APPS if app not in installed]
        django_settings.configure(**{**settings, "INSTALLED_APPS": installed})
    elif settings_module is not None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    django.setup()


def run_in_django(function: Callable[..., T], *args: Any, **kwargs: Any) -> Any:
    """Await ``function(*args, **kwargs)`` in the request's Django thread (see
    :class:`DjangoConnectionMiddleware`): where the ORM may run, and where the request's
    connections live."""
    return sync_to_async(function, thread_sensitive=True)(*args, **kwargs)


def _request_finished() -> None:
    # What Django does once a response is sent (close_old_connections, among the receivers
    # of request_finished), then close what is left: the thread ends with the request, and
    # a connection left open in it would leak.
    from django.core import signals
    from django.db import connections

    signals.request_finished.send(sender=DjangoConnectionMiddleware)
    connections.close_all()


class DjangoConnectionMiddleware:
    """Give each request its own Django thread, as Django's ASGI handler does, and close
    that thread's connections when the request ends.

    Django's ORM is synchronous: async code calls it through ``sync_to_async`` (the
    engine's and the repositories' async methods do, as does :func:`run_in_django`).
    Inside this middleware, every such call of one request runs on a thread of that
    request, one call after the other, and requests run side by side. The thread starts
    with no connection, so none can be stale or broken; when the request ends, Django's
    ``request_finished`` signal is sent there and its connections are closed. A
    connection the database dropped between two requests is therefore never reused. For
    reuse across requests, use the database's pool (``OPTIONS["pool"]`` on PostgreSQL),
    as Django advises for ASGI.

    :class:`~workflows_app.contrib.litestar.WorkflowPlugin` installs it; an application
    that uses the engine without the plugin adds it: ``Litestar(middleware=[...])``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        async with ThreadSensitiveContext():
            try:
                await self.app(scope, receive, send)
            finally:
                if _thread_started():
                    await sync_to_async(_request_finished, thread_sensitive=True)()


def _thread_started() -> bool:
    """Whether the current request made its Django thread (a request that never called
    the ORM has no connection to close, and needs no thread for it)."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    executors = getattr(SyncToAsync, "context_to_thread_executor", None)
    if context is None or executors is None:
        return True  # asgiref keeps this elsewhere: close anyway
    return context in executors
