"""Delegation and substitution in the admin: the task page's Delegate form, the delegate's
Resolve form (no Complete button for them), the owner sees the draft and completes; the
inbox's "delegated to me" and "substituting" lists; substitutions managed by their user."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.admin.console_support import make_staff
from tests.api import workflows
from workflows_app.core.registry import default_registry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel, Substitution

pytestmark = pytest.mark.django_db

INBOX = "admin:workflows_app_humantaskmodel_changelist"


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


def signing() -> HumanTaskModel:
    """An api_assigned task for maria (a task assigned to the user named in the data)."""
    started = PersistentExecutionEngine().start_workflow_sync(
        "api_assigned", initial_data={"signer": "maria"}
    )
    return HumanTaskModel.objects.get(instance_id=started.id)


def page(task: HumanTaskModel) -> str:
    return reverse("admin:workflows_app_humantaskmodel_change", args=[task.pk])


def test_delegate_resolve_complete() -> None:
    maria, olga = make_staff("maria"), make_staff("olga")
    task = signing()
    shown = maria.get(page(task)).content.decode()
    assert 'id="wf-delegate-form"' in shown and 'id="wf-complete-form"' in shown
    maria.post(page(task), {"action": "delegate", "to_user": "olga"})
    task.refresh_from_db()
    assert (task.assignee_id, task.owner_id) == ("olga", "maria")

    listed = olga.get(reverse(INBOX) + "?scope=delegated").content.decode()
    assert page(task) in listed and "delegated by maria" in listed
    shown = olga.get(page(task)).content.decode()
    assert 'id="wf-resolve-form"' in shown and 'id="wf-complete-form"' not in shown
    # a POST to complete anyway is refused with the engine's message, nothing changed
    olga.post(page(task), {"action": "complete"})
    task.refresh_from_db()
    assert task.status == "pending"

    answer = olga.post(page(task), {"action": "resolve"})
    assert answer.status_code == 302
    task.refresh_from_db()
    assert task.delegation["state"] == "resolved" and task.assignee_id == "maria"
    shown = maria.get(page(task)).content.decode()
    assert 'id="wf-delegation"' in shown and "answered a draft" in shown
    maria.post(page(task), {"action": "complete"})
    task.refresh_from_db()
    assert task.status == "completed" and task.completed_by == "maria"


def test_substitute_inbox_and_completion() -> None:
    olga = make_staff("olga")
    task = signing()
    now = timezone.now()
    Substitution.objects.create(
        user="maria",
        substitute="olga",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
    )
    listed = olga.get(reverse(INBOX) + "?scope=substituting").content.decode()
    assert page(task) in listed and "for maria" in listed
    shown = olga.get(page(task)).content.decode()
    assert 'id="wf-on-behalf-of"' in shown and 'id="wf-complete-form"' in shown
    olga.post(page(task), {"action": "complete"})
    task.refresh_from_db()
    assert (task.completed_by, task.completed_on_behalf_of) == ("olga", "maria")
    shown = olga.get(page(task)).content.decode()
    assert "olga completed for maria" in " ".join(shown.split())


def test_a_user_manages_their_own_substitutions() -> None:
    maria = make_staff("maria")
    add = reverse("admin:workflows_app_substitution_add")
    now = timezone.now()
    form = {
        "user": "someone-else",  # ignored: a user without the permission adds their own
        "substitute": "olga",
        "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": "00:00:00",
        "ends_at_0": (now + timedelta(days=3)).strftime("%Y-%m-%d"),
        "ends_at_1": "00:00:00",
        "workflow_names": "api_assigned, api_review",
    }
    answer = maria.post(add, form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    row = Substitution.objects.get()
    assert (row.user, row.substitute, row.created_by) == ("maria", "olga", "maria")
    assert row.workflows == "\napi_assigned\napi_review\n"
    # an overlapping one is refused, with the reason
    again = maria.post(add, {**form, "substitute": "piet"})
    assert again.status_code == 200 and "one at a time" in again.content.decode()
    assert Substitution.objects.count() == 1
    # someone else's is not theirs to see
    other = Substitution.objects.create(
        user="ivan", substitute="piet", starts_at=now, ends_at=now + timedelta(days=1)
    )
    change = reverse("admin:workflows_app_substitution_change", args=[other.pk])
    assert maria.get(change).status_code in (302, 403, 404)
    boss = make_staff("boss", perms=("change_substitution", "view_substitution"))
    assert boss.get(change).status_code == 200
