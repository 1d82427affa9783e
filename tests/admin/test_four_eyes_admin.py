"""Four-eyes rules in the admin (the API tests' ``api_four_eyes`` workflow: ``write``, then
``approve``, which excludes who wrote and who started): the task page tells an excluded
user, a superuser included, why they cannot act and offers them no form; a POST anyway is
refused with the engine's message and changes nothing; the inbox does not list the task."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.admin.console_support import make_staff
from tests.api import workflows
from workflows_app.core.registry import default_registry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


@pytest.fixture
def root() -> Client:
    return make_staff("root", groups=("reviewers",), superuser=True)


@pytest.fixture
def bob() -> Client:
    return make_staff("bob", groups=("reviewers",))


def pending(instance_id: Any, step: str) -> HumanTaskModel:
    return HumanTaskModel.objects.get(instance_id=instance_id, step_name=step, status="pending")


def task_page(task: HumanTaskModel) -> str:
    return reverse("admin:workflows_app_humantaskmodel_change", args=[task.pk])


def approving(starter: str = "root") -> HumanTaskModel:
    engine = PersistentExecutionEngine()
    started = engine.start_workflow_sync("api_four_eyes", created_by=starter)
    engine.complete_task_sync(pending(started.id, "write").pk, "alice", {})
    return pending(started.id, "approve")


def test_task_page__tells_an_excluded_superuser_why_and_offers_no_form(root, bob) -> None:
    task = approving()
    html = root.get(task_page(task)).content.decode()
    assert 'id="wf-excluded"' in html and "four-eyes rule excludes you" in html
    assert 'id="wf-complete-form"' not in html and 'name="_claim"' not in html
    assert "alice, root (four-eyes rule)" in html
    other = bob.get(task_page(task)).content.decode()
    assert 'id="wf-complete-form"' in other and 'id="wf-excluded"' not in other


@pytest.mark.parametrize("action", ["complete", "claim", "send_back"])
def test_task_page__a_post_by_an_excluded_superuser_is_refused(root, action) -> None:
    task = approving()
    data = {"action": action, "to_step": "write", "send_back_reason": "again"}
    answer = root.post(task_page(task), data, follow=True)
    shown = [str(message) for message in answer.context["messages"]]
    assert any("four-eyes rule of its step excludes them" in text for text in shown), shown
    task.refresh_from_db()
    assert (task.status, task.assignee_id, task.activity) == ("pending", None, [])


def test_inbox__does_not_list_the_task_for_the_excluded(root, bob) -> None:
    task = approving()
    inbox = reverse("admin:workflows_app_humantaskmodel_changelist")
    assert str(task.pk) in bob.get(inbox).content.decode()
    assert str(task.pk) not in root.get(inbox).content.decode()
