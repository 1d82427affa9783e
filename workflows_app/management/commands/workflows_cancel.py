"""``manage.py workflows_cancel``: cancel instances."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from workflows_app.core.exceptions import WorkflowsError
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.management.commands import _instances


class Command(BaseCommand):
    help = "Cancel instances by id, or every stuck one (--stuck)."

    def add_arguments(self, parser: Any) -> None:
        _instances.add_selection(parser, states=("stuck",))
        parser.add_argument("--reason", default="Canceled by an operator", help="Recorded.")
        parser.add_argument(
            "--compensate",
            action="store_true",
            help="Undo each instance's completed steps first (see docs/compensation.rst).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        engine = PersistentExecutionEngine()
        done = failed = 0
        for row in _instances.select(options):
            try:
                if options["compensate"]:
                    engine.cancel_workflow_sync(row.pk, options["reason"], compensate=True)
                else:
                    engine.cancel_workflow_sync(row.pk, options["reason"])
            except WorkflowsError as exc:
                failed += 1
                self.stderr.write(f"{row.pk}: {exc}")
            else:
                done += 1
        self.stdout.write(f"Canceled {done} instance(s); {failed} could not be canceled.")
