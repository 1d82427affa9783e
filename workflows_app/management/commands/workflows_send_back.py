"""``manage.py workflows_send_back``: send a pending task back to an earlier step for rework."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from workflows_app.core.exceptions import WorkflowsError
from workflows_app.engine.persistent import PersistentExecutionEngine


class Command(BaseCommand):
    help = (
        "Send the pending task TASK_ID back to the earlier step --to, with a --reason: the "
        "task is canceled and the step runs again (see docs/rework.rst)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("task_id", help="The pending task.")
        parser.add_argument(
            "--to", required=True, dest="to_step", metavar="STEP", help="The earlier step."
        )
        parser.add_argument("--reason", required=True, help="Why (recorded, shown on the task).")
        parser.add_argument("--by", help="Who sends it back (recorded).")

    def handle(self, *args: Any, **options: Any) -> None:
        engine = PersistentExecutionEngine()
        try:
            state = engine.send_back_sync(
                options["task_id"], options["to_step"], options["reason"], by=options["by"]
            )
        except WorkflowsError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Sent task {options['task_id']} back to '{options['to_step']}'; "
            f"instance {state.id} is {state.status}."
        )
