"""Task comments in the admin: the task page shows the thread and posts a comment; the
instance page shows the comments of the tasks the user sees; refusals show the message and
write nothing (the API tests' ``api_rework`` workflow)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.admin.console_support import make_staff
from tests.api import workflows
from workflows_app.core.registry import default_registry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel, TaskCommentModel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


@pytest.fixture
def bob() -> Client:
    return make_staff("bob", groups=("reviewers",))


def a_task() -> HumanTaskModel:
    started = PersistentExecutionEngine().start_workflow_sync("api_rework", created_by="alice")
    return HumanTaskModel.objects.get(instance_id=started.id, step_name="write")


def task_page(task: HumanTaskModel) -> str:
    return reverse("admin:workflows_app_humantaskmodel_change", args=[task.pk])


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_task_page__posts_a_comment_and_shows_the_thread(bob) -> None:
    task = a_task()
    PersistentExecutionEngine().add_task_comment_sync(task.pk, "alice", "Which quarter?")
    page = bob.get(task_page(task)).content.decode()
    assert 'id="wf-comment-form"' in page and "Which quarter?" in page

    posted = bob.post(task_page(task), {"action": "comment", "comment_text": "Q3"}, follow=True)
    assert messages_of(posted) == ["Comment posted."]
    assert [(c.author, c.text) for c in TaskCommentModel.objects.order_by("created_at")] == [
        ("alice", "Which quarter?"),
        ("bob", "Q3"),
    ]
    assert "Q3" in posted.content.decode()


@pytest.mark.parametrize(("text", "message"), [("  ", "non-empty"), ("a\x00b", "NUL")])
def test_task_page__a_bad_comment_is_refused(bob, text, message) -> None:
    task = a_task()
    refused = bob.post(task_page(task), {"action": "comment", "comment_text": text}, follow=True)
    assert any(message in m for m in messages_of(refused)), messages_of(refused)
    assert not TaskCommentModel.objects.exists()


def test_task_page__who_does_not_see_the_task_cannot_comment() -> None:
    task = a_task()
    outsider = make_staff("olga", groups=("editors",))
    answer = outsider.post(task_page(task), {"action": "comment", "comment_text": "hi"})
    assert answer.status_code == 404
    assert not TaskCommentModel.objects.exists()


def test_instance_page__shows_the_comments_of_its_tasks(bob) -> None:
    task = a_task()
    PersistentExecutionEngine().add_task_comment_sync(task.pk, "alice", "Need the Q3 figures")
    page = reverse("admin:workflows_app_workflowinstancemodel_change", args=[task.instance_id])
    html = bob.get(page).content.decode()
    assert 'id="wf-instance-comments"' in html and "Need the Q3 figures" in html
