"""Suspending and resuming from the admin: the buttons of an instance's page (suspend with
a reason, resume), the list's bulk actions (suspend through a page that asks for the
reason, resume), the suspended badge and the tasks on hold, each for users with
``suspend_workflowinstance`` only, through the service."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.admin.console_support import OPERATOR_PERMS, make_staff, messages_of, snapshot, start
from tests.api import workflows
from workflows_app.core.registry import default_registry
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db

LIST = reverse("admin:workflows_app_workflowinstancemodel_changelist")
SUSPEND = reverse("admin:workflows_app_workflowinstancemodel_suspend")
SUSPENDER_PERMS = (*OPERATOR_PERMS, "suspend_workflowinstance")


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


@pytest.fixture
def ops() -> Client:
    return make_staff("ops", perms=SUSPENDER_PERMS, tenant="acme")


@pytest.fixture
def viewer() -> Client:
    return make_staff("viewer", perms=OPERATOR_PERMS, tenant="acme")


def page(instance: WorkflowInstanceModel) -> str:
    return reverse("admin:workflows_app_workflowinstancemodel_change", args=[instance.pk])


def status(instance: WorkflowInstanceModel) -> str:
    return WorkflowInstanceModel.objects.get(pk=instance.pk).status


def bulk(client: Client, action: str, *instances: WorkflowInstanceModel, follow: bool = True):
    body = {"action": action, "index": 0, "_selected_action": [str(i.pk) for i in instances]}
    return client.post(LIST, body, follow=follow)


def buttons(client: Client, instance: WorkflowInstanceModel) -> set[str]:
    text = client.get(page(instance)).content.decode()
    return {name for name in ("_suspend", "_resume") if f'name="{name}"' in text}


def test_page__suspend_with_a_reason_then_resume(ops) -> None:
    instance = start("api_review", tenant="acme")
    assert buttons(ops, instance) == {"_suspend"}

    response = ops.post(page(instance), {"action": "suspend", "reason": "incident 7"}, follow=True)

    assert "The instance is suspended." in messages_of(response)
    text = response.content.decode()
    assert '<span class="wf-badge wf-badge-suspended">suspended</span>' in text
    assert "on hold (suspended)" in text
    assert status(instance) == "suspended"
    assert buttons(ops, instance) == {"_resume"}
    task = HumanTaskModel.objects.get(instance_id=instance.pk)
    task_page = reverse("admin:workflows_app_humantaskmodel_change", args=[task.pk])
    assert "on hold (suspended)" in ops.get(task_page).content.decode()
    audit = WorkflowInstanceModel.objects.get(pk=instance.pk).metadata["suspensions"]
    assert (audit[0]["by"], audit[0]["reason"]) == ("ops", "incident 7")

    response = ops.post(page(instance), {"action": "resume"}, follow=True)

    assert "The instance was resumed." in messages_of(response)
    assert status(instance) == "waiting"
    assert HumanTaskModel.objects.get(instance_id=instance.pk).status == "pending"


def test_page__suspend_without_a_reason_or_twice_changes_nothing(ops) -> None:
    instance = start("api_review", tenant="acme")
    before = snapshot(instance)

    response = ops.post(page(instance), {"action": "suspend", "reason": " "}, follow=True)

    assert any("give a reason" in note for note in messages_of(response))
    assert snapshot(instance) == before
    response = ops.post(page(instance), {"action": "resume"}, follow=True)
    assert any("is not suspended" in note for note in messages_of(response))
    assert snapshot(instance) == before


def test_page__without_the_permission_no_buttons_and_nothing_changes(viewer) -> None:
    instance = start("api_review", tenant="acme")
    before = snapshot(instance)
    assert buttons(viewer, instance) == set()

    response = viewer.post(page(instance), {"action": "suspend", "reason": "x"}, follow=True)

    assert messages_of(response) == ["Not allowed: You may not suspend workflows"]
    assert snapshot(instance) == before


def test_bulk__offered_only_with_the_permission(ops, viewer) -> None:
    start("api_review", tenant="acme")

    def offered(client: Client) -> list[str]:
        form = client.get(LIST).context["action_form"]
        return [] if form is None else [name for name, _ in form.fields["action"].choices if name]

    assert {"suspend_instances", "resume_instances"} <= set(offered(ops))
    assert not {"suspend_instances", "resume_instances"} & set(offered(viewer))
    assert viewer.get(f"{SUSPEND}?ids=x").status_code == 403


def test_bulk_suspend__asks_for_the_reason_then_suspends_each(ops) -> None:
    first = start("api_review", tenant="acme")
    failed = start("api_flaky", tenant="acme")
    theirs = start("api_review", tenant="globex")

    redirect = bulk(ops, "suspend_instances", first, failed, theirs, follow=False)

    assert redirect.status_code == 302
    form = ops.get(redirect["Location"])
    assert form.status_code == 200
    text = form.content.decode()
    assert 'name="reason"' in text and str(first.pk) in text and str(theirs.pk) not in text
    assert status(first) == "waiting"  # nothing yet
    ids = f"{first.pk},{failed.pk},{theirs.pk}"

    refused = ops.post(SUSPEND, {"ids": ids, "reason": ""}, follow=True)
    assert any("Nothing suspended" in note for note in messages_of(refused))
    assert status(first) == "waiting"

    done = ops.post(SUSPEND, {"ids": ids, "reason": "maintenance"}, follow=True)

    notes = messages_of(done)
    assert "Suspended 1 instance." in notes
    [refusal] = [note for note in notes if "not suspended" in note]
    assert refusal.startswith("2 instances not suspended: ")
    assert "cannot be suspended: it is failed" in refusal
    assert [status(i) for i in (first, failed, theirs)] == ["suspended", "failed", "waiting"]

    resumed = bulk(ops, "resume_instances", first, failed)

    notes = messages_of(resumed)
    assert "Resumed 1 instance." in notes
    assert any("is not suspended" in note for note in notes)
    assert status(first) == "waiting"


def test_list__suspended_status_has_its_own_badge(ops) -> None:
    instance = start("api_review", tenant="acme")
    ops.post(page(instance), {"action": "suspend", "reason": "x"})
    text = ops.get(LIST).content.decode()
    assert '<span class="wf-badge wf-badge-suspended">suspended</span>' in text
