"""Dispatch: who is told that a commit left an instance with a step to run.

The engine calls ``dispatcher(using).notify(instance_id, wake_at)`` after every change
that leaves an instance runnable without a drive in this process running it on (a start
in worker mode, a task completed while another drive holds the instance, a retry, a
timer or a retry back-off armed, an escalation). It calls it *inside* the transaction
that commits the change, or right after the insert when a start runs outside any
atomic block (autocommit). ``wake_at`` is when the instance should run: now, or the
due time of its first timer or retry.

Which dispatcher is used follows ``WORKFLOWS["DISPATCH"]``:

``"worker"`` (the default)
    ``workflows_worker`` processes run instances. They poll ``wake_at``; on PostgreSQL
    (unless ``WORKFLOWS["LISTEN_NOTIFY"]`` is False) the engine also sends
    ``NOTIFY workflows_app_runnable`` with the instance id, in the committing
    transaction, for instances runnable now, and idle workers ``LISTEN`` and wake at
    once (:mod:`workflows_app.engine.listener`). Later due times are found by polling.
``"celery"``
    Celery workers run instances: :class:`workflows_app.contrib.celery.dispatch.CeleryDispatcher`
    queues a task once the transaction commits (with an ``eta`` for later due times).
a dotted path
    A :class:`Dispatcher` subclass of the project's own, built with the database alias.

The engine never imports a dispatcher that lives outside the engine: ``"celery"`` and
dotted paths are imported by name, when first used. (The Celery dispatcher's tasks run
the worker, which imports the engine: a cycle at run time that import-linter cannot see
and that the lazy import keeps harmless.)
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from django.db import connections
from django.utils.module_loading import import_string

from workflows_app import conf
from workflows_app.core import clock

__all__ = ["CHANNEL", "Dispatcher", "PostgresNotify", "dispatcher", "import_dispatcher", "listens"]

CHANNEL = "workflows_app_runnable"
"""The PostgreSQL channel that :class:`PostgresNotify` notifies and workers listen on."""

_NAMED = {"celery": "workflows_app.contrib.celery.dispatch.CeleryDispatcher"}


class Dispatcher:
    """Tell nobody: workers find runnable instances by polling their ``wake_at``.

    Subclasses override :meth:`notify`. A dispatcher is built for one database alias
    (``using``), the engine's.
    """

    def __init__(self, using: str) -> None:
        self.using = using

    def notify(self, instance_id: Any, wake_at: datetime) -> None:
        """Called in the transaction that leaves ``instance_id`` runnable at ``wake_at``."""


class PostgresNotify(Dispatcher):
    """``NOTIFY`` the channel :data:`CHANNEL` with the id of an instance runnable now.

    The notification is sent on the engine's connection, in the transaction that made
    the instance runnable: PostgreSQL delivers it when that transaction commits, and
    drops it when it rolls back. Instances due later are left to polling.
    """

    def notify(self, instance_id: Any, wake_at: datetime) -> None:
        if wake_at > clock.utcnow():
            return
        with connections[self.using].cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, str(instance_id)])


def dispatcher(using: str) -> Dispatcher:
    """Return the dispatcher that the settings choose for the database ``using``."""
    settings = conf.get_settings()
    vendor = connections[using].vendor
    return _dispatcher_class(settings.DISPATCH, settings.LISTEN_NOTIFY, vendor)(using)


def listens(using: str) -> bool:
    """Return whether workers of the database ``using`` are woken by ``NOTIFY``."""
    return isinstance(dispatcher(using), PostgresNotify)


def import_dispatcher(name: str) -> type[Dispatcher]:
    """Return the class that ``DISPATCH = name`` names (``"celery"`` or a dotted path).

    Raise ImportError when it cannot be imported, TypeError when it is no dispatcher.
    """
    found = import_string(_NAMED.get(name, name))
    if not (isinstance(found, type) and issubclass(found, Dispatcher)):
        raise TypeError(f"{name!r} is not a subclass of {Dispatcher.__qualname__}")
    return found


@functools.cache
def _dispatcher_class(dispatch: str, listen_notify: bool, vendor: str) -> type[Dispatcher]:
    if dispatch == "worker":
        return PostgresNotify if listen_notify and vendor == "postgresql" else Dispatcher
    return import_dispatcher(dispatch)
