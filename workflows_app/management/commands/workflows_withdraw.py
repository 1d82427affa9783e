"""``manage.py workflows_withdraw``: cancel an instance for the user who started it."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from workflows_app.core.exceptions import WorkflowsError
from workflows_app.engine.persistent import PersistentExecutionEngine


class Command(BaseCommand):
    help = (
        "Withdraw the instance INSTANCE_ID for the user who started it (--by): it is canceled "
        "while no task of it has been completed or claimed (see docs/rework.rst)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("instance_id", help="The instance.")
        parser.add_argument("--by", required=True, help="The user who started it (its created_by).")

    def handle(self, *args: Any, **options: Any) -> None:
        engine = PersistentExecutionEngine()
        try:
            state = engine.withdraw_sync(options["instance_id"], options["by"])
        except WorkflowsError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Withdrew instance {state.id}: it is {state.status}.")
