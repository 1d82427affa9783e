"""The admin's task inbox in a real browser: headless Chromium against the demo project
served by uvicorn on the test database, people logging in through the login form.

The workflows are the demo's (``project/demo/workflows.py``): ``expense_approval`` offers
a ``managers`` task with a required Yes/No ``approved`` and a ``comment``, then reimburses
or not; ``ledger_sync`` fails at ``sync_to_ledger`` once, and a retry completes it. A
user's tenant is its ``tenant:<name>`` group (the demo's resolver).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.users import make_user
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INBOX = "/admin/workflows_app/humantaskmodel/"


def task_url(task: HumanTaskModel) -> str:
    return f"{INBOX}{task.pk}/change/"


def staff_user(username: str, *, groups: tuple[str, ...] = (), perms: tuple[str, ...] = ()) -> User:
    """A staff user whose password is its name (the browser logs in with it)."""
    return make_user(username, groups=groups, perms=perms, staff=True, password=username)


def expense_claim(tenant: str, description: str, **data: Any) -> HumanTaskModel:
    """Start an ``expense_approval`` in ``tenant`` on the engine; return its pending task."""
    state = PersistentExecutionEngine().start_workflow_sync(
        "expense_approval",
        {"description": description, "amount": 100, **data},
        tenant_id=tenant,
        created_by="erik",
    )
    return HumanTaskModel.objects.get(instance_id=state.id, status="pending")


def snapshot(task: HumanTaskModel) -> tuple[Any, ...]:
    """What completing a task changes: the task's row, its instance's, the step history."""
    task = HumanTaskModel.objects.get(pk=task.pk)
    instance = WorkflowInstanceModel.objects.get(pk=task.instance_id)
    history = StepExecutionModel.objects.filter(instance_id=instance.pk).order_by("started_at")
    return (
        task.status,
        task.completed_by,
        task.activity,
        instance.status,
        instance.lock_version,
        instance.context_data,
        list(history.values_list("step_name", "status", "output_data")),
    )


def log_in(page: Any, username: str) -> None:
    """Log in through the admin's login form (the password is the user name)."""
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", username)
    with page.expect_navigation():
        page.click("#login-form input[type=submit]")
    assert page.url.endswith("/admin/"), f"{username} could not log in: {page.url}"


def test_manager__does_a_task_from_the_inbox(new_page: Any) -> None:
    staff_user("maria", groups=("managers", "tenant:acme"))
    overdue = expense_claim("acme", "Team dinner", review_within_days=-1)
    task = expense_claim("acme", "Train tickets", review_within_days=3, amount=89)
    page = new_page()
    log_in(page, "maria")

    # The admin index counts her tasks; its links open the inbox.
    counts = page.locator("#wf-inbox-counts")
    assert re.sub(r"\s+", " ", counts.inner_text()).strip() == (
        "Your tasks: 2 offered, 0 assigned to you, 1 overdue"
    )
    page.click("#wf-inbox-counts a.wf-count-offered")
    page.wait_for_selector("#result_list")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    overdue_row = rows.filter(has=page.locator(f'a[href*="{overdue.pk}"]'))
    task_row = rows.filter(has=page.locator(f'a[href*="{task.pk}"]'))
    assert overdue_row.locator(".wf-overdue").inner_text() == "Overdue"
    assert overdue_row.locator("td.field-due time").inner_text() == "1\xa0day ago"
    assert overdue_row.locator(".wf-overdue").is_visible()
    assert task_row.locator(".wf-overdue").count() == 0
    assert "Train tickets" in task_row.inner_text()

    task_row.locator(f'a[href*="{task.pk}"]').click()
    page.wait_for_selector("#wf-complete-form")
    assert page.locator("h1").inner_text() == "Approve an expense claim: Train tickets"
    before = snapshot(task)

    # No answer to the required Yes/No: the error shows at the field, nothing changes.
    page.fill("#id_comment", "Where is the receipt?")
    page.click("input[name=_complete]")
    page.wait_for_selector(".field-approved .errorlist")
    assert page.locator(".field-approved .errorlist").inner_text() == "This field is required."
    assert page.locator("#id_comment").input_value() == "Where is the receipt?"
    assert snapshot(task) == before

    page.check("#id_approved_0")  # Yes
    page.fill("#id_comment", "Receipt found, fine.")
    page.click("input[name=_complete]")
    page.wait_for_selector(".messagelist .success")
    assert page.locator(".messagelist .success").inner_text() == (
        'Completed "Approve an expense claim: Train tickets". The workflow is now completed.'
    )
    assert page.url.endswith(INBOX)
    assert page.locator("#result_list tbody tr").count() == 1

    task = HumanTaskModel.objects.get(pk=task.pk)
    instance = WorkflowInstanceModel.objects.get(pk=task.instance_id)
    assert (task.status, task.completed_by) == ("completed", "maria")
    assert [entry["action"] for entry in task.activity] == ["completed"]
    assert task.activity[0]["comment"] == "Receipt found, fine."
    assert instance.status == "completed"
    assert instance.context_data["approved"] is True
    assert instance.context_data["comment"] == "Receipt found, fine."
    assert instance.context_data["reimbursed"] == 89
    assert HumanTaskModel.objects.get(pk=overdue.pk).status == "pending"


def test_operator__retries_a_failed_instance(new_page: Any) -> None:
    staff_user(
        "olga",
        groups=("tenant:acme",),
        perms=("view_workflowinstancemodel", "view_humantaskmodel", "retry_workflow"),
    )
    state = PersistentExecutionEngine().start_workflow_sync(
        "ledger_sync", {"order_id": "PO-7", "amount": 70}, tenant_id="acme", created_by="erik"
    )
    assert state.status == "failed"
    page = new_page()
    log_in(page, "olga")

    response = page.goto(f"/admin/workflows_app/workflowinstancemodel/{state.id}/change/")
    assert response is not None and response.status == 200
    page.click("[name=_retry]")
    page.wait_for_load_state()

    instance = WorkflowInstanceModel.objects.get(pk=state.id)
    assert instance.status == "completed", instance.error
    assert instance.context_data["ledger_entry"].startswith("LEDGER-")
    runs = StepExecutionModel.objects.filter(instance_id=state.id, step_name="sync_to_ledger")
    assert sorted(runs.values_list("status", flat=True)) == ["failed", "succeeded"]


def test_other_tenant__gets_404_and_an_inbox_without_the_task(new_page: Any) -> None:
    staff_user("gus", groups=("managers", "tenant:globex"))
    acme = expense_claim("acme", "Team dinner")
    globex = expense_claim("globex", "Client lunch")
    before = snapshot(acme)
    page = new_page()
    log_in(page, "gus")

    response = page.goto(task_url(acme))
    assert response is not None and response.status == 404
    assert page.locator("#wf-complete-form").count() == 0

    page.goto(INBOX)
    page.wait_for_selector("#result_list")
    links = page.locator("#result_list tbody a").evaluate_all(
        "links => links.map(link => link.getAttribute('href'))"
    )
    assert any(str(globex.pk) in link for link in links)
    assert not any(str(acme.pk) in link for link in links)
    assert snapshot(acme) == before


def test_double_submission__completes_the_task_once(new_page: Any) -> None:
    staff_user("maria", groups=("managers", "tenant:acme"))
    task = expense_claim("acme", "Taxi", amount=38)
    page = new_page()
    log_in(page, "maria")
    # The same form open twice (a second tab, a double click, a resubmission).
    second = page.context.new_page()
    for tab in (page, second):
        tab.goto(task_url(task))
        tab.check("#id_approved_0")
        tab.fill("#id_comment", "first" if tab is page else "second")
    sent = page.locator("#wf-complete-form").evaluate(
        "form => Object.fromEntries(new FormData(form))"
    )

    page.click("input[name=_complete]")
    page.wait_for_selector(".messagelist .success")
    done = snapshot(task)
    status, completed_by, activity, instance_status, _, data, history = done
    assert (status, completed_by, instance_status) == ("completed", "maria", "completed")
    assert [entry["action"] for entry in activity] == ["completed"]
    assert (data["approved"], data["comment"]) == (True, "first")
    assert [step for step, *_ in history] == ["submit", "manager_approval", "reimburse"]

    # The other tab submits its stale form: an error, and nothing changes.
    second.click("input[name=_complete]")
    second.wait_for_selector(".messagelist .error")
    assert "already completed" in second.locator(".messagelist .error").inner_text()
    assert snapshot(task) == done

    # The first form's very POST again, with its CSRF token: the same answer.
    again = page.request.post(
        task_url(task), form=sent, headers={"Referer": page.url.split("/admin/")[0] + "/admin/"}
    )
    assert again.status == 200
    assert "already completed" in again.text()
    assert snapshot(task) == done
