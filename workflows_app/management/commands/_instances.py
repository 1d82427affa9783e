"""What the operations commands share: selecting instances and printing them."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from workflows_app.core.types import WorkflowStatus
from workflows_app.models import WorkflowInstanceModel


def minutes(value: str) -> timedelta:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of minutes") from None
    if number < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return timedelta(minutes=number)


def add_selection(parser: argparse.ArgumentParser, *, states: tuple[str, ...]) -> None:
    """Add the instance selection: ids, or --failed / --stuck, with filters (``"filter"``
    in ``states``: --status too, and the filters alone select)."""
    parser.add_argument("ids", nargs="*", metavar="INSTANCE_ID", help="Instances by id.")
    group = parser.add_mutually_exclusive_group()
    if "failed" in states:
        group.add_argument("--failed", action="store_true", help="Every failed instance.")
    if "stuck" in states:
        group.add_argument(
            "--stuck",
            action="store_true",
            help="Running instances with a step due that no worker picked up.",
        )
    parser.add_argument(
        "--older-than",
        type=minutes,
        default=timedelta(minutes=5),
        metavar="MINUTES",
        help="With --stuck: due for more than this (default: 5).",
    )
    parser.add_argument("--workflow", help="Only instances of this workflow.")
    parser.add_argument("--tenant", help="Only instances of this tenant.")
    if "filter" in states:
        parser.add_argument(
            "--status",
            choices=[str(status) for status in WorkflowStatus],
            help="Only instances in this status (without ids: select by the filters).",
        )


def select(options: dict[str, Any]) -> Any:
    """Return the instances the options name, or raise CommandError."""
    rows = WorkflowInstanceModel.objects.all()
    if options.get("failed"):
        rows = rows.failed()
    elif options.get("stuck"):
        rows = rows.stuck(options["older_than"])
    elif options["ids"]:
        try:
            rows = rows.filter(pk__in=options["ids"])
            found = {str(pk) for pk in rows.values_list("pk", flat=True)}
        except (ValidationError, ValueError) as exc:  # a malformed id
            raise CommandError(f"Invalid instance id: {exc}") from None
        missing = sorted(set(options["ids"]) - found)
        if missing:
            raise CommandError(f"No instance with id {', '.join(missing)}")
    elif "status" in options and any(options.get(k) for k in ("status", "workflow", "tenant")):
        pass  # selected by the filters below
    else:
        raise CommandError("Name instances by id, or select them with an option.")
    if options.get("status"):
        rows = rows.filter(status=options["status"])
    if options.get("workflow"):
        rows = rows.filter(workflow_name=options["workflow"])
    if options.get("tenant"):
        rows = rows.filter(tenant_id=options["tenant"])
    return rows.order_by("started_at")


def describe(row: WorkflowInstanceModel) -> str:
    error = f"  {row.error}" if row.error else ""
    return (
        f"{row.pk}  {row.workflow_name} {row.workflow_version}  {row.status}"
        f"  at {row.current_step or '-'}{error}"
    )
