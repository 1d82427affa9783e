"""Compensation in the admin: an instance's page shows its compensation (status, steps
undone, errors) and the compensation executions in its timeline; the cancel form's
compensate box undoes the completed steps before the instance ends canceled; a failed
compensation offers 'Retry the compensation', a completed one no retry at all."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.admin.console_support import OPERATOR_PERMS, make_staff, messages_of, start
from tests.api import workflows
from workflows_app.core.registry import default_registry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


@pytest.fixture
def ops() -> Client:
    return make_staff("ops", perms=OPERATOR_PERMS, groups=("reviewers",), tenant="acme")


def page(instance: WorkflowInstanceModel) -> str:
    return reverse("admin:workflows_app_workflowinstancemodel_change", args=[instance.pk])


def row(instance: WorkflowInstanceModel) -> WorkflowInstanceModel:
    return WorkflowInstanceModel.objects.get(pk=instance.pk)


def test_cancel_with_compensate_from_the_page(ops) -> None:
    instance = start("api_saga", tenant="acme")
    text = ops.get(page(instance)).content.decode()
    assert 'name="compensate"' in text

    answer = ops.post(
        page(instance),
        {"action": "cancel", "reason": "trip off", "compensate": "on"},
        follow=True,
    )

    assert "The instance is being compensated, then canceled." in messages_of(answer)
    done = row(instance)
    assert (done.status, done.error) == ("canceled", "Canceled: trip off")
    assert done.context_data["booked"] is False
    text = answer.content.decode()
    assert 'id="wf-compensation"' in text and "undone: book" in text
    assert "wf-compensation" in text and "compensation</span>" in text  # the timeline row


def test_cancel_without_the_box_undoes_nothing(ops) -> None:
    instance = start("api_saga", tenant="acme")
    ops.post(page(instance), {"action": "cancel", "reason": "off"})
    done = row(instance)
    assert done.status == "canceled" and done.context_data["booked"] is True
    assert "compensation" not in done.metadata


def test_a_failed_compensation_is_retried_from_the_page(ops) -> None:
    instance = start("api_saga", {"undo_fails": True}, tenant="acme")
    task = HumanTaskModel.objects.get(instance_id=instance.pk)
    PersistentExecutionEngine(default_registry).complete_task_sync(task.pk, "ops", {})
    assert row(instance).metadata["compensation"]["status"] == "failed"
    text = ops.get(page(instance)).content.decode()
    assert "Retry the compensation" in text
    assert "undoing book failed: hotel unreachable" in text

    ops.post(page(instance), {"action": "retry"})

    done = row(instance)
    assert (done.status, done.error) == ("failed", "flight canceled")
    assert done.metadata["compensation"]["status"] == "completed"
    text = ops.get(page(instance)).content.decode()
    assert 'name="_retry"' not in text  # a compensated instance is not retried
