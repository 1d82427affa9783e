"""Helpers of the operations console tests (the instance and definition admins): staff
users logged into a test client, instances started on the real engine, snapshots.

A user's tenant is its ``tenant:<name>`` group (the demo's resolver, on in the test
settings). The workflows are the API tests' (``tests/api/workflows.py``).
"""

from __future__ import annotations

from typing import Any

from django.test import Client

from tests.users import make_user
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel
from workflows_app.services import get_service

OPERATOR_PERMS = (
    "view_workflowinstancemodel",
    "view_humantaskmodel",
    "cancel_workflow",
    "retry_workflow",
)


def make_staff(
    username: str,
    *,
    groups: tuple[str, ...] = (),
    perms: tuple[str, ...] = (),
    tenant: str | None = None,
    staff: bool = True,
    superuser: bool = False,
) -> Client:
    """A test client logged in as a new user of ``groups`` and ``tenant`` with ``perms``
    (codenames of this app)."""
    user = make_user(
        username, groups=groups, perms=perms, tenant=tenant, staff=staff, superuser=superuser
    )
    client = Client()
    client.force_login(user)
    return client


def start(
    name: str,
    data: dict[str, Any] | None = None,
    *,
    tenant: str | None = None,
    by: str | None = "starter",
    version: str | None = None,
) -> WorkflowInstanceModel:
    """Start ``name`` on the real engine (inline: it runs until it waits, ends or fails)."""
    state = get_service().engine.start_workflow_sync(
        name, data, tenant_id=tenant, created_by=by, version=version
    )
    return WorkflowInstanceModel.objects.get(pk=state.id)


def snapshot(instance: WorkflowInstanceModel) -> tuple[Any, ...]:
    """What a refused action must leave as it was: the instance, its history, its tasks."""
    row = WorkflowInstanceModel.objects.get(pk=instance.pk)
    return (
        row.status,
        row.current_step,
        row.error,
        row.completed_at,
        row.lock_version,
        row.context_data,
        sorted(
            StepExecutionModel.objects.filter(instance_id=row.pk).values_list(
                "step_name", "attempt", "status"
            )
        ),
        sorted(HumanTaskModel.objects.filter(instance_id=row.pk).values_list("id", "status")),
    )


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]
