"""Suspending and resuming in a real browser: an operator selects an instance on the list,
takes the bulk action, gives the reason on the page that asks for it, sees the instance
suspended (its badge, its task on hold) and resumes it from its page. Headless Chromium
against the demo project (``expense_approval`` waits at a manager's task)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_admin_inbox import expense_claim, log_in, staff_user
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIST = "/admin/workflows_app/workflowinstancemodel/"
PERMS = ("view_workflowinstancemodel", "view_humantaskmodel", "suspend_workflowinstance")


def test_operator__suspends_from_the_list_and_resumes_from_the_page(new_page: Any) -> None:
    staff_user("sven", groups=("tenant:acme",), perms=PERMS)
    task = expense_claim("acme", "Hotel", amount=120)
    page = new_page()
    log_in(page, "sven")

    page.goto(LIST)
    page.check(f'input.action-select[value="{task.instance_id}"]')
    page.select_option("select[name=action]", "suspend_instances")
    with page.expect_navigation():
        page.click("button[name=index]")
    assert page.locator("h1").inner_text() == "Suspend workflow instances"
    page.fill("#id_reason", "ledger outage")
    with page.expect_navigation():
        page.click("input[name=_suspend]")

    assert "Suspended 1 instance." in page.locator(".messagelist").inner_text()
    instance = WorkflowInstanceModel.objects.get(pk=task.instance_id)
    assert instance.status == "suspended"
    assert instance.metadata["suspensions"][0]["reason"] == "ledger outage"

    page.goto(f"{LIST}{task.instance_id}/change/")
    assert page.locator(".wf-badge-suspended").first.is_visible()
    assert "on hold (suspended)" in page.content()
    with page.expect_navigation():
        page.click("[name=_resume]")

    assert "The instance was resumed." in page.locator(".messagelist").inner_text()
    assert WorkflowInstanceModel.objects.get(pk=task.instance_id).status == "waiting"
    assert HumanTaskModel.objects.get(pk=task.pk).status == "pending"
