"""The demo Django project that serves workflows_app (``make run``) and hosts the test suite."""

from __future__ import annotations

try:  # the celery extra: make the project's app the current one for @shared_task
    from project.celery import app as celery_app
except ImportError:  # pragma: no cover - celery not installed
    celery_app = None

__all__ = ["celery_app"]
