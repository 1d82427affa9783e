"""``manage.py workflows_resume``: resume suspended instances."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from workflows_app.core.exceptions import WorkflowsError
from workflows_app.core.types import WorkflowStatus
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.management.commands import _instances


class Command(BaseCommand):
    help = (
        "Resume instances by id, or every suspended one the filters select (--workflow, --tenant)."
    )

    def add_arguments(self, parser: Any) -> None:
        _instances.add_selection(parser, states=("filter",))
        parser.add_argument("--by", help="Who resumes them (recorded).")

    def handle(self, *args: Any, **options: Any) -> None:
        engine = PersistentExecutionEngine()
        rows = _instances.select(options)
        if not options["ids"] and not options["status"]:
            rows = rows.filter(status__in=[str(s) for s in (WorkflowStatus.SUSPENDED,)])
        done = failed = 0
        for row in rows:
            try:
                engine.resume_sync(row.pk, by=options["by"])
            except WorkflowsError as exc:
                failed += 1
                self.stderr.write(f"{row.pk}: {exc}")
            else:
                done += 1
        self.stdout.write(f"Resumed {done} instance(s); {failed} could not be resumed.")
