"""``manage.py workflows_publish_message``: publish a message correlated by business key."""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from workflows_app.core.exceptions import WorkflowsError
from workflows_app.engine.persistent import PersistentExecutionEngine


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None


class Command(BaseCommand):
    help = (
        "Publish the message NAME for the business key KEY: it goes to the instance that has "
        "waited longest for it, starts a workflow with start_on_message, or is kept for "
        "--ttl seconds (see docs/messages.rst)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="The message's name.")
        parser.add_argument("key", help="The correlation key (text).")
        parser.add_argument("--payload", type=_json, default=None, help="A JSON value.")
        parser.add_argument("--ttl", type=_seconds, help="Seconds to keep it if nobody waits.")
        parser.add_argument("--message-id", help="A message with a known id is ignored.")
        parser.add_argument("--tenant", help="The tenant whose instances receive it.")

    def handle(self, *args: Any, **options: Any) -> None:
        engine = PersistentExecutionEngine()
        try:
            result = engine.publish_message_sync(
                options["name"],
                options["key"],
                options["payload"],
                message_id=options["message_id"],
                ttl=options["ttl"],
                tenant_id=options["tenant"],
            )
        except WorkflowsError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(result.to_dict()))
