"""Prepare the demo database: users of two tenants, and workflows in every state.

Safe to run again: users get their groups, permissions and passwords back, and each demo
instance is started once (it carries a ``demo`` key in its metadata). Instances are
started and moved on through the engine, as an application would; nothing here writes a
status.

``--reset`` puts the demo back as new once it has been walked through (the overdue claim
approved, the failed ledger sync retried): it deletes the demo's instances, with their
steps and tasks, and starts them afresh. Only the demo's: instances without a demo key
are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from workflows_app.core.types import TaskStatus
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

USERNAME = "admin"
PASSWORD = "admin"
URL = "http://127.0.0.1:8000/admin/"


@dataclass(frozen=True)
class DemoUser:
    username: str
    groups: tuple[str, ...]
    permissions: tuple[str, ...]
    sees: str
    superuser: bool = False

    @property
    def password(self) -> str:
        return self.username

    @property
    def tenant(self) -> str:
        tenants = [name.split(":", 1)[1] for name in self.groups if name.startswith("tenant:")]
        return tenants[0] if tenants else "-"


USERS = (
    DemoUser(
        "admin", (), (), "everything without a tenant (no demo rows): a superuser", superuser=True
    ),
    DemoUser(
        "maria",
        ("managers", "tenant:acme"),
        ("start_workflow", "cancel_workflow", "retry_workflow"),
        "acme's expense claims to approve (one overdue, one claimed by her)",
    ),
    DemoUser(
        "erik",
        ("tenant:acme",),
        ("start_workflow",),
        "the claims he submitted, and how far they got",
    ),
    DemoUser(
        "olga",
        ("tenant:acme",),
        (
            "view_workflowinstancemodel",
            "view_humantaskmodel",
            "cancel_workflow",
            "retry_workflow",
            "complete_any_task",
            "reassign_any_task",
        ),
        "every acme instance and task; retries the failed ledger sync",
    ),
    DemoUser(
        "gus",
        ("managers", "tenant:globex"),
        ("start_workflow",),
        "globex's claims only: acme's are not there for him",
    ),
)


@dataclass(frozen=True)
class DemoInstance:
    key: str
    workflow: str
    tenant: str
    created_by: str
    data: dict[str, Any]
    claimed_by: str | None = None  # the manager who claims its task
    approved_by: str | None = None  # the manager who completes its task


INSTANCES = (
    DemoInstance(
        "acme-team-dinner",
        "expense_approval",
        "acme",
        "erik",
        {"description": "Team dinner after the release", "amount": 240, "review_within_days": -2},
    ),
    DemoInstance(
        "acme-train-berlin",
        "expense_approval",
        "acme",
        "erik",
        {"description": "Train tickets to Berlin", "amount": 89.5, "review_within_days": 4},
    ),
    DemoInstance(
        "acme-conference",
        "expense_approval",
        "acme",
        "erik",
        {"description": "DjangoCon ticket", "amount": 450, "review_within_days": 1},
        claimed_by="maria",
    ),
    DemoInstance(
        "acme-taxi",
        "expense_approval",
        "acme",
        "erik",
        {"description": "Taxi to the airport", "amount": 38},
        approved_by="maria",
    ),
    DemoInstance("acme-order-1042", "order_pipeline", "acme", "erik", {"order_id": "PO-1042"}),
    DemoInstance(
        "acme-ledger-1042",
        "ledger_sync",
        "acme",
        "erik",
        {"order_id": "PO-1042", "amount": 1250},
    ),
    DemoInstance(
        "globex-client-lunch",
        "expense_approval",
        "globex",
        "gus",
        {"description": "Client lunch", "amount": 120},
    ),
    DemoInstance(
        "globex-hotel",
        "expense_approval",
        "globex",
        "gus",
        {"description": "Hotel in Lyon, two nights", "amount": 310, "review_within_days": 5},
    ),
)


class Command(BaseCommand):
    help = (
        "Create or reset the demo users (admin/admin and four more) and start the demo's "
        "workflows. Safe to run again; --reset starts the demo's workflows afresh. Refuses "
        "to run when DEBUG is off."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the demo's workflow instances (with their steps and tasks) and start "
            "them afresh. Other instances are left alone.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "demo_setup creates a superuser with a known password; it runs only with DEBUG on."
            )
        if options["reset"]:
            deleted = self._delete_instances()
            self.stdout.write(f"Deleted {deleted} demo workflow instance(s).")
        with transaction.atomic():
            for user in USERS:
                created = self._user(user)
                if user.username == USERNAME:
                    self.stdout.write(f"{'Created' if created else 'Updated'} the demo superuser.")
        started = self._instances()
        self.stdout.write(
            f"Started {started} demo workflow instance(s)."
            if started
            else "The demo workflow instances are there already."
        )
        self._table()

    def _user(self, spec: DemoUser) -> bool:
        user_model = get_user_model()
        user, created = user_model._default_manager.get_or_create(username=spec.username)
        user.is_staff = True
        user.is_superuser = spec.superuser
        user.is_active = True
        user.set_password(spec.password)
        user.save()
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in spec.groups])
        permissions = Permission.objects.filter(
            content_type__app_label="workflows_app", codename__in=spec.permissions
        )
        missing = set(spec.permissions) - {permission.codename for permission in permissions}
        if missing:
            raise CommandError(f"unknown permissions {sorted(missing)}: run migrate first")
        user.user_permissions.set(permissions)
        return created

    def _demo_rows(self) -> dict[Any, str]:
        """The demo's instances: their ids, and the demo key each carries."""
        keys = {spec.key for spec in INSTANCES}
        rows = WorkflowInstanceModel.objects.values_list("pk", "metadata")
        return {
            pk: metadata["demo"]
            for pk, metadata in rows
            if isinstance(metadata, dict) and metadata.get("demo") in keys
        }

    def _delete_instances(self) -> int:
        """Delete the demo's instances; their step executions and tasks go with them (the
        same as ``workflows_prune``: rows removed, no state changed)."""
        found = list(self._demo_rows())
        if found:
            WorkflowInstanceModel.objects.filter(pk__in=found).delete()
        return len(found)

    def _instances(self) -> int:
        engine = PersistentExecutionEngine()
        done = set(self._demo_rows().values())
        started = 0
        for spec in INSTANCES:
            if spec.key in done:
                continue
            state = engine.start_workflow_sync(
                spec.workflow,
                spec.data,
                tenant_id=spec.tenant,
                created_by=spec.created_by,
                metadata={"demo": spec.key},
            )
            started += 1
            if spec.claimed_by is None and spec.approved_by is None:
                continue
            task = HumanTaskModel.objects.get(instance_id=state.id, status=TaskStatus.PENDING)
            if spec.claimed_by is not None:
                engine.claim_task_sync(task.pk, spec.claimed_by)
            if spec.approved_by is not None:
                engine.complete_task_sync(
                    task.pk,
                    spec.approved_by,
                    {"approved": True, "comment": "Receipt attached, fine."},
                    comment="Approved from the demo data.",
                )
        return started

    def _table(self) -> None:
        rows = [("user / password", "tenant", "groups", "sees")]
        rows += [
            (
                f"{user.username} / {user.password}",
                user.tenant,
                ", ".join(name for name in user.groups if not name.startswith("tenant:")) or "-",
                user.sees,
            )
            for user in USERS
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        self.stdout.write("")
        for number, row in enumerate(rows):
            cells = [text.ljust(width) for text, width in zip(row, widths, strict=False)]
            self.stdout.write("  ".join([*cells, row[3]]).rstrip())
            if number == 0:
                self.stdout.write("  ".join("-" * width for width in [*widths, len(row[3])]))
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(f"Log in at {URL} as {USERNAME} / {PASSWORD}, or as any user above.")
        )
