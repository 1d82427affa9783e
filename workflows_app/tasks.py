"""The Celery tasks of ``WORKFLOWS["DISPATCH"] = "celery"`` (the ``celery`` extra).

They live in :mod:`workflows_app.contrib.celery.tasks`; this module re-exports them so
that Celery's ``app.autodiscover_tasks()`` (which imports ``<app>.tasks`` of every
installed app) registers ``workflows_app.run_instance`` and ``workflows_app.run_due``,
and so that code and settings that name ``workflows_app.tasks`` keep working.
"""

from __future__ import annotations

from workflows_app.contrib.celery.tasks import dispatch, run_due, run_instance

__all__ = ["dispatch", "run_due", "run_instance"]
