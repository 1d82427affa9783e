"""``manage.py workflows_migrate NAME --from V1 --to V2``: move running instances of a
workflow to another version (see :mod:`workflows_app.engine.migrations`)."""

from __future__ import annotations

import argparse
import getpass
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError

from workflows_app.core.exceptions import WorkflowNotFoundError
from workflows_app.core.migration import DefinitionDiff, MigrationPlan
from workflows_app.engine import migrations
from workflows_app.engine.persistent import PersistentExecutionEngine


def _pair(value: str) -> tuple[str, str]:
    old, sep, new = value.partition("=")
    if not sep or not old.strip() or not new.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not OLD=NEW (two step names)")
    return old.strip(), new.strip()


def _instance_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an instance id (a UUID)") from None


def _operator() -> str:
    """Who the audit record names: the OS user running the command, when known."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name, and no user of this uid
        return "manage.py workflows_migrate"
    return f"manage.py workflows_migrate ({user})"


def _diff_lines(diff: DefinitionDiff) -> list[str]:
    if diff.is_empty:
        return ["  the two versions have the same steps and edges"]
    rows = [
        ("steps added", diff.steps_added),
        ("steps removed", diff.steps_removed),
        ("steps renamed", [f"{old} -> {new}" for old, new in diff.steps_renamed]),
        ("steps changed", [f"{step} ({what})" for step, what in diff.steps_changed]),
        ("edges added", [f"{source} -> {target}" for source, target in diff.edges_added]),
        ("edges removed", [f"{source} -> {target}" for source, target in diff.edges_removed]),
    ]
    return [f"  {label}: {', '.join(items)}" for label, items in rows if items]


class Command(BaseCommand):
    help = (
        "Move running, waiting and failed instances of a workflow from one version to "
        "another: print the definitions' diff, refuse a plan with problems (nothing is "
        "written), then move each instance all or nothing and report those "
        "moved, skipped (with why) and failed. --dry-run only says which could move."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("workflow", metavar="NAME", help="The workflow's name.")
        parser.add_argument("--from", dest="from_version", required=True, help="Its version now.")
        parser.add_argument(
            "--to", dest="to_version", required=True, help="The version to move to."
        )
        parser.add_argument(
            "--map",
            dest="mapping",
            type=_pair,
            action="append",
            default=[],
            metavar="OLD=NEW",
            help="Send branches at step OLD to step NEW of the new version (repeatable; a "
            "step not named goes to the step of the same name).",
        )
        parser.add_argument(
            "--instance",
            dest="instances",
            type=_instance_id,
            action="append",
            metavar="ID",
            help="Only this instance (repeatable; default: every instance of --from that "
            "is running, waiting or failed).",
        )
        parser.add_argument("--tenant", help="Only instances of this tenant.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would move; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        plan = MigrationPlan(
            options["workflow"],
            options["from_version"],
            options["to_version"],
            self._mapping(options["mapping"]),
        )
        engine = PersistentExecutionEngine()
        tenant_id = options["tenant"] if options["tenant"] is not None else migrations.ANY_TENANT
        try:
            checked = engine.plan_migration_sync(plan, [])  # the diff and the problems only
        except WorkflowNotFoundError as exc:
            raise CommandError(f"{exc} (is the version registered?)") from None
        self.stdout.write(f"{plan.workflow} {plan.from_version} -> {plan.to_version}")
        self.stdout.write("\n".join(["Diff:", *_diff_lines(checked.diff)]))
        if checked.problems:
            for problem in checked.problems:
                self.stderr.write(f"Problem: {problem}")
            raise CommandError(
                f"The plan has {len(checked.problems)} problem(s): nothing was moved."
            )
        selection = {"tenant_id": tenant_id, "progress": self._progress}
        if options["dry_run"]:
            preview = engine.plan_migration_sync(plan, options["instances"], **selection)
            self._report_preview(preview)
            return
        result = engine.migrate_instances_sync(
            plan, options["instances"], by=_operator(), **selection
        )
        self._report_result(result)

    def _mapping(self, pairs: list[tuple[str, str]]) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for old, new in pairs:
            if mapping.get(old, new) != new:
                raise CommandError(f"--map sends step {old!r} to {mapping[old]!r} and {new!r}.")
            mapping[old] = new
        return mapping

    def _progress(self, done: int) -> None:
        if done >= migrations.BATCH:  # a run of one batch needs no progress lines
            self.stderr.write(f"... {done} instance(s)")

    def _report_preview(self, preview: migrations.MigrationPreview) -> None:
        blocked = preview.blocked
        self.stdout.write(
            f"Dry run, nothing written: {len(preview.movable)} instance(s) can move, "
            f"{len(blocked)} cannot."
        )
        for check in blocked:
            self.stdout.write(f"  cannot move {check.instance_id}: {check.reason}")

    def _report_result(self, result: migrations.MigrationResult) -> None:
        self.stdout.write(
            f"Moved {len(result.moved)} instance(s); skipped {len(result.skipped)}; "
            f"failed {len(result.failed)}."
        )
        for instance_id, reason in result.skipped:
            self.stdout.write(f"  skipped {instance_id}: {reason}")
        for instance_id, error in result.failed:
            self.stdout.write(f"  failed {instance_id}: {error}")
        if result.failed:
            raise CommandError(f"{len(result.failed)} instance(s) could not be moved.")
