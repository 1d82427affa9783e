"""``manage.py workflows_prune``: delete finished instances older than N days, and the
messages whose time ran out."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from workflows_app.engine import messages
from workflows_app.models import WorkflowInstanceModel


def _days(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of days") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


class Command(BaseCommand):
    help = (
        "Delete completed, failed and canceled instances that ended more than --days days "
        "ago, with their step executions and tasks; and buffered messages whose ttl ran "
        "out (and remembered message ids that expired)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--days", type=_days, required=True, help="Keep this many days.")
        parser.add_argument("--workflow", help="Only instances of this workflow.")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        moment = timezone.now() - timedelta(days=options["days"])
        rows = WorkflowInstanceModel.objects.finished_before(moment)
        if options["workflow"]:
            rows = rows.filter(workflow_name=options["workflow"])
        count = rows.count()
        if options["dry_run"]:
            self.stdout.write(f"Would delete {count} instance(s).")
            return
        rows.delete()
        self.stdout.write(f"Deleted {count} instance(s).")
        expired = messages.prune(WorkflowInstanceModel.objects.db)
        self.stdout.write(f"Deleted {expired} expired message(s).")
