"""Human tasks of issue 16 in a real browser: (a) answering a task from the link of its
e-mail (captured from the test process's mail outbox), (b) a 2-of-3 approval done through
the admin's task pages, the third task leaving its inbox, (c) the starter withdrawing an
instance from its admin page. Served by ``tests/browser/actions_asgi.py``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from tests import action_link_workflows
from tests.api import workflows as api_workflows
from tests.browser.conftest import TIMEOUT_MS, VIEWPORT
from tests.browser.test_admin_inbox import INBOX, log_in, staff_user, task_url
from tests.live_server import uvicorn_server
from workflows_app.core.registry import default_registry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LINK = re.compile(r"^(Approve|Reject|Open the task): (\S+)$", re.MULTILINE)


@pytest.fixture
def tasks_server(django_db_setup: None, tmp_path: Path) -> Iterator[str]:
    default_registry.register_module(api_workflows)  # this process starts instances too
    default_registry.register_module(action_link_workflows)
    with uvicorn_server(
        "tests.browser.actions_asgi:application",
        tmp_path,
        ready_path="/admin/login/",
        env={
            "DJANGO_DEBUG": "0",
            "WORKFLOWS_ACTION_LINKS": "1",
            "WORKFLOWS_ACTION_LINKS_BASE_URL": "http://127.0.0.1",
        },
    ) as url:
        yield url


@pytest.fixture
def page_of(browser: Any, tasks_server: str) -> Any:
    def page_of(user: str | None) -> Any:
        context = browser.new_context(base_url=tasks_server, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        if user:
            log_in(page, user)
        return page

    return page_of


def pending(instance_id: Any, step: str) -> list[HumanTaskModel]:
    return list(
        HumanTaskModel.objects.filter(instance_id=instance_id, step_name=step, status="pending")
    )


def with_email(user: Any) -> Any:
    user.email = f"{user.username}@example.com"
    user.save()
    return user


def test_answer_from_an_email_link(
    page_of: Any, tasks_server: str, mailoutbox: Any, screenshot: Any
) -> None:
    for name in ("wendy", "ann"):
        with_email(staff_user(name, groups=("reviewers",)))
    on = {
        **settings.WORKFLOWS,
        "ACTION_LINKS": True,
        "TASK_EMAILS": True,
        "ACTION_LINKS_BASE_URL": tasks_server,
    }
    engine = PersistentExecutionEngine()
    with override_settings(WORKFLOWS=on):  # the mails are sent by this process
        started = engine.start_workflow_sync("action_link_report", created_by="root")
        [write] = pending(started.id, "write")
        mailoutbox.clear()
        engine.complete_task_sync(write.pk, "wendy", {})
    [mail] = [m for m in mailoutbox if m.to == ["ann@example.com"]]
    links = dict(LINK.findall(mail.body))
    assert set(links) == {"Approve", "Reject", "Open the task"}
    [task] = pending(started.id, "approve")

    page = page_of(None)
    page.goto(links["Approve"])  # not logged in: the login page first, then back
    assert "/admin/login/" in page.url
    page.fill("#id_username", "ann")
    page.fill("#id_password", "ann")
    with page.expect_navigation():
        page.click("#login-form input[type=submit]")
    page.wait_for_selector("#wf-confirm-form")
    assert page.locator("h1").inner_text() == "Approve the report"
    assert page.locator("#wf-answer").inner_text() == "Approve"
    assert HumanTaskModel.objects.get(pk=task.pk).status == "pending"  # GET changed nothing
    screenshot(page, "action-link-confirm")
    with page.expect_navigation():
        page.click("#wf-confirm-form button[type=submit]")
    assert "you answered Approve" in page.locator("#wf-result").inner_text()
    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("completed", "ann")
    assert WorkflowInstanceModel.objects.get(pk=started.id).context_data["approved"] is True

    # The same link again (or a colleague's): who answered, and nothing changes.
    page.goto(links["Reject"])
    assert page.locator("#wf-answered-by").inner_text() == "ann"
    assert page.locator("#wf-confirm-form").count() == 0
    # The link to the task's page opens the admin's task page.
    page.goto(links["Open the task"])
    assert page.url.endswith(task_url(task))


def test_two_of_three_approve_in_the_admin(page_of: Any, screenshot: Any) -> None:
    for name in ("ann", "bob", "cy"):
        staff_user(name)
    started = PersistentExecutionEngine().start_workflow_sync(
        "api_board", {"members": ["ann", "bob", "cy"]}
    )
    tasks = {task.assignee_id: task for task in pending(started.id, "board")}
    assert set(tasks) == {"ann", "bob", "cy"}
    cy = page_of("cy")
    cy.goto(INBOX)
    assert cy.locator(f'#result_list a[href*="{tasks["cy"].pk}"]').count() == 1

    for name in ("ann", "bob"):
        page = page_of(name)
        page.goto(task_url(tasks[name]))
        page.wait_for_selector("#wf-complete-form")
        page.check("#id_approved_0")  # Yes
        with page.expect_navigation():
            page.click("input[name=_complete]")
        assert "Completed" in page.locator(".messagelist .success").inner_text()
        if name == "ann":
            screenshot(page, "n-of-m-first-approval")

    instance = WorkflowInstanceModel.objects.get(pk=started.id)
    assert instance.status == "completed"
    assert HumanTaskModel.objects.get(pk=tasks["cy"].pk).status == "canceled"
    cy.goto(INBOX)
    assert cy.locator(f'#result_list a[href*="{tasks["cy"].pk}"]').count() == 0
    cy.goto(task_url(tasks["cy"]))
    assert cy.locator("#wf-complete-form").count() == 0


def test_starter_withdraws_an_instance_in_the_admin(page_of: Any, screenshot: Any) -> None:
    staff_user("alice", groups=("reviewers",))
    staff_user("bob", groups=("reviewers",))
    started = PersistentExecutionEngine().start_workflow_sync("api_rework", created_by="alice")
    url = f"/admin/workflows_app/workflowinstancemodel/{started.id}/change/"

    bob = page_of("bob")
    bob.goto(url)
    assert bob.locator("#wf-withdraw").count() == 0

    alice = page_of("alice")
    alice.goto(url)
    button = alice.locator("#wf-withdraw input[name=_withdraw]")
    assert button.is_visible()
    screenshot(alice, "withdraw-button")
    with alice.expect_navigation():
        button.click()
    assert "You withdrew the instance." in alice.locator(".messagelist").inner_text()
    assert alice.locator("#wf-withdraw").count() == 0
    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "canceled"
    assert pending(started.id, "write") == []
