"""``manage.py workflows_suspend``: hold running or waiting instances until they are resumed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from workflows_app.core.exceptions import WorkflowsError
from workflows_app.engine import suspension
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.management.commands import _instances


class Command(BaseCommand):
    help = "Suspend instances by id, or every running or waiting one the filters select (--workflow, --tenant, --status), with a --reason."

    def add_arguments(self, parser: Any) -> None:
        _instances.add_selection(parser, states=("filter",))
        parser.add_argument("--reason", required=True, help="Why (recorded).")
        parser.add_argument("--by", help="Who suspends them (recorded).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            reason = suspension.check_reason(options["reason"])
        except WorkflowsError as exc:
            raise CommandError(str(exc)) from None
        engine = PersistentExecutionEngine()
        rows = _instances.select(options)
        if not options["ids"] and not options["status"]:
            rows = rows.filter(status__in=[str(s) for s in suspension.SUSPENDABLE])
        done = failed = 0
        for row in rows:
            try:
                engine.suspend_sync(row.pk, reason, by=options["by"])
            except WorkflowsError as exc:
                failed += 1
                self.stderr.write(f"{row.pk}: {exc}")
            else:
                done += 1
        self.stdout.write(f"Suspended {done} instance(s); {failed} could not be suspended.")
