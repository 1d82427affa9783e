"""The admin's "Send back" form on a task page and "Withdraw" button on an instance page,
through the Django test client as staff users, on the real engine (the API tests'
``api_rework`` workflow: ``write`` then ``check``, which may send back to ``write``; both
offered to the group ``reviewers``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.admin.console_support import make_staff
from tests.api import workflows
from workflows_app.core.registry import default_registry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


@pytest.fixture
def alice() -> Client:
    return make_staff("alice", groups=("reviewers",))


@pytest.fixture
def bob() -> Client:
    return make_staff("bob", groups=("reviewers",))


def pending(instance_id: Any, step: str) -> HumanTaskModel:
    return HumanTaskModel.objects.get(instance_id=instance_id, step_name=step, status="pending")


def task_page(task: HumanTaskModel) -> str:
    return reverse("admin:workflows_app_humantaskmodel_change", args=[task.pk])


def instance_page(instance_id: Any) -> str:
    return reverse("admin:workflows_app_workflowinstancemodel_change", args=[instance_id])


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def checking() -> HumanTaskModel:
    engine = PersistentExecutionEngine()
    started = engine.start_workflow_sync("api_rework", created_by="alice")
    engine.complete_task_sync(pending(started.id, "write").pk, "alice", {})
    return pending(started.id, "check")


def test_task_page__send_back_offers_the_allowed_steps_and_sends_back(alice, bob) -> None:
    check = checking()
    shown = bob.get(task_page(check))
    html = shown.content.decode()
    assert 'id="wf-send-back-form"' in html
    assert '<option value="write">write</option>' in html
    assert shown.context["send_back_targets"] == ["write"]

    sent = bob.post(
        task_page(check),
        {"action": "send_back", "to_step": "write", "send_back_reason": "Add the Q3 figures"},
        follow=True,
    )
    assert messages_of(sent) == ['Sent "Check the report" back to write.']
    check.refresh_from_db()
    assert check.status == "canceled"
    again = pending(check.instance_id, "write")
    assert again.assignee_id == "alice"
    page = alice.get(task_page(again)).content.decode()
    assert 'id="wf-sent-back"' in page
    assert "from step check by bob" in page and "Add the Q3 figures" in page
    # the write step lists no step to go back to: no form
    assert 'id="wf-send-back-form"' not in page


def test_task_page__send_back_refusals_change_nothing(bob) -> None:
    check = checking()
    for data, message in (
        ({"to_step": "write"}, "Choose the step to send the task back to, and say why."),
        ({"to_step": "check", "send_back_reason": "x"}, "may send back only to 'write'"),
    ):
        refused = bob.post(task_page(check), {"action": "send_back", **data}, follow=True)
        assert any(message in text for text in messages_of(refused)), messages_of(refused)
        check.refresh_from_db()
        assert check.status == "pending"
    outsider = make_staff("olga", groups=("editors",))
    assert outsider.get(task_page(check)).status_code == 404


def test_instance_page__withdraw_is_offered_to_the_starter_only(alice, bob) -> None:
    started = PersistentExecutionEngine().start_workflow_sync("api_rework", created_by="alice")
    assert 'id="wf-withdraw"' not in bob.get(instance_page(started.id)).content.decode()
    refused = bob.post(instance_page(started.id), {"action": "withdraw"}, follow=True)
    assert messages_of(refused) == [
        "Not allowed: Only the user who started the workflow may withdraw it"
    ]
    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "waiting"

    page = alice.get(instance_page(started.id)).content.decode()
    assert 'id="wf-withdraw"' in page and 'value="withdraw"' in page
    done = alice.post(instance_page(started.id), {"action": "withdraw"}, follow=True)
    assert messages_of(done) == ["You withdrew the instance."]
    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "canceled"
    assert 'id="wf-withdraw"' not in done.content.decode()


def test_instance_page__withdraw_says_why_it_cannot_be_withdrawn(alice, bob) -> None:
    started = PersistentExecutionEngine().start_workflow_sync("api_rework", created_by="alice")
    PersistentExecutionEngine().claim_task_sync(pending(started.id, "write").pk, "bob")
    page = alice.get(instance_page(started.id)).content.decode()
    assert "cannot be withdrawn now: a task of it is claimed" in page
    assert 'value="withdraw"' not in page
