"""The dispatcher of ``WORKFLOWS["DISPATCH"] = "celery"``."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction

from workflows_app.contrib.celery import tasks
from workflows_app.core import clock
from workflows_app.engine.dispatch import Dispatcher

__all__ = ["CeleryDispatcher"]


class CeleryDispatcher(Dispatcher):
    """Queue ``workflows_app.run_instance`` once the committing transaction is done.

    An instance runnable now is queued at once; one due later (a timer, a retry's
    back-off) with that ``eta``. Nothing is queued when the transaction rolls back. The
    task claims the instance under a lease, so a duplicate or late message is harmless.
    """

    def notify(self, instance_id: Any, wake_at: datetime) -> None:
        eta = wake_at if wake_at > clock.utcnow() else None
        transaction.on_commit(
            partial(tasks.dispatch, instance_id, eta), using=self.using, robust=True
        )
