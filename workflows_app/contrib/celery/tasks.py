"""The Celery tasks that run workflow instances.

With ``WORKFLOWS["DISPATCH"] = "celery"`` the engine hands every instance that has a
step to run to ``workflows_app.run_instance``, after the commit that made it runnable
(with an ``eta`` for timers and retries), instead of waiting for a
``workflows_worker`` to find it. Schedule ``workflows_app.run_due`` with Celery beat
(every minute, say): it sends reminders, handles overdue tasks, and runs anything a
lost message left behind.

``workflows_app.tasks`` re-exports this module, so that Celery's
``app.autodiscover_tasks()`` registers the tasks.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from celery import shared_task

from workflows_app.engine.worker import Worker

__all__ = ["dispatch", "run_due", "run_instance"]


def _worker(**options: Any) -> Worker:
    return Worker(worker_id=f"celery-{socket.gethostname()}-{os.getpid()}", **options)


@shared_task(name="workflows_app.run_instance", acks_late=True, ignore_result=True)
def run_instance(instance_id: str) -> bool:
    """Run the instance's due steps, unless someone else holds it; return whether it ran."""
    return _worker().run_instance(instance_id)


@shared_task(name="workflows_app.run_due", ignore_result=True)
def run_due(limit: int = 100) -> int:
    """Handle due deadlines and run up to ``limit`` due instances; return how many ran."""
    worker = _worker(burst=True, max_instances=limit)
    worker.run_deadlines()
    return worker.run()


def dispatch(instance_id: Any, eta: Any = None) -> None:
    """Queue ``run_instance`` for ``instance_id`` (at ``eta``, if given)."""
    run_instance.apply_async((str(instance_id),), eta=eta)
