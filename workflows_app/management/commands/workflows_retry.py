"""``manage.py workflows_retry``: run failed instances again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from workflows_app.core.exceptions import WorkflowsError
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.management.commands import _instances


class Command(BaseCommand):
    help = "Retry failed instances from their failed step (or --from-step)."

    def add_arguments(self, parser: Any) -> None:
        _instances.add_selection(parser, states=("failed",))
        parser.add_argument("--from-step", help="Run again from this step instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        engine = PersistentExecutionEngine()
        done = failed = 0
        for row in _instances.select(options):
            try:
                instance = engine.retry_sync(row.pk, options["from_step"])
            except (WorkflowsError, KeyError, ValueError) as exc:
                failed += 1
                self.stderr.write(f"{row.pk}: {exc}")
            else:
                done += 1
                self.stdout.write(f"{row.pk}: {instance.status}")
        self.stdout.write(f"Retried {done} instance(s); {failed} could not be retried.")
