"""The admin as a person sees it: at 1280x800 with the navigation sidebar open, the lists
show every column without scrolling sideways; starting a workflow from the admin lands
on the new instance. Each test saves screenshots (``screenshot_dir``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_admin_inbox import expense_claim, log_in, staff_user
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import WorkflowInstanceModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INBOX = "/admin/workflows_app/humantaskmodel/"
INSTANCES = "/admin/workflows_app/workflowinstancemodel/"

OVERFLOW = """() => {
    const table = document.querySelector("#result_list");
    const box = table.closest(".results");
    const cells = table.querySelectorAll("thead th");
    const last = cells[cells.length - 1].getBoundingClientRect();
    return {
        tableWidth: table.scrollWidth,
        boxWidth: box.clientWidth,
        lastRight: last.right,
        viewport: document.documentElement.clientWidth,
        sidebarOpen: document.querySelector("#nav-sidebar").getBoundingClientRect().width > 0,
    };
}"""


def assert_fits(page: Any, name: str, folder: Path) -> None:
    """The list's table is as wide as its box at most, and its last column on screen."""
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    found = page.evaluate(OVERFLOW)
    assert found["sidebarOpen"], found
    assert found["tableWidth"] <= found["boxWidth"], found
    assert found["lastRight"] <= found["viewport"], found


def title_lines(page: Any) -> list[int]:
    """How many lines each row's title takes."""
    return page.locator("#result_list td.field-task a").evaluate_all(
        "links => links.map(link => link.getClientRects().length)"
    )


def test_lists_fit_1280_px_with_the_sidebar_open(new_page: Any, screenshot_dir: Path) -> None:
    staff_user("maria", groups=("managers", "tenant:acme"), perms=("start_workflow",))
    staff_user(
        "olga",
        groups=("tenant:acme",),
        perms=("view_workflowinstancemodel", "view_humantaskmodel", "complete_any_task"),
    )
    expense_claim("acme", "Team dinner after the release of the new ledger", review_within_days=-2)
    expense_claim("acme", "Train tickets to Berlin and back, second class", review_within_days=1)
    done = expense_claim("acme", "A hotel room in Lyon for the two nights of the conference")
    PersistentExecutionEngine().complete_task_sync(done.pk, "maria", {"approved": True})
    PersistentExecutionEngine().start_workflow_sync(
        "ledger_sync", {"order_id": "PO-7", "amount": 70}, tenant_id="acme", created_by="erik"
    )

    page = new_page()
    log_in(page, "maria")
    page.goto(INBOX)
    assert page.locator("#result_list tbody tr").count() == 2
    assert_fits(page, "inbox", screenshot_dir)
    # The title column is the widest, not a sliver: at most 3 lines (2 on Django 5.2,
    # 3 with Django 6's admin styles), where it took 5 to 7 before.
    assert max(title_lines(page)) <= 3
    page.goto(INBOX + "?status=any")
    assert page.locator("#result_list tbody tr").count() == 3
    assert_fits(page, "inbox-any-status", screenshot_dir)
    page.goto(INSTANCES)
    assert_fits(page, "instances", screenshot_dir)

    operator = new_page()
    log_in(operator, "olga")
    operator.goto(INBOX + "?scope=all&status=any")
    assert operator.locator("#result_list tbody tr").count() == 3
    assert_fits(operator, "inbox-all-tasks", screenshot_dir)
    operator.goto(INSTANCES)
    assert operator.locator("#result_list tbody tr").count() == 4
    assert_fits(operator, "instances-operator", screenshot_dir)


def test_start_a_workflow_from_the_admin(new_page: Any, screenshot_dir: Path) -> None:
    staff_user("maria", groups=("managers", "tenant:acme"), perms=("start_workflow",))
    page = new_page()
    log_in(page, "maria")

    page.goto(INSTANCES)
    page.click("#wf-start-link")
    page.click("text=expense_approval")
    page.wait_for_selector("#wf-start-form")
    page.fill("#id_description", "Taxi to the airport")
    page.fill("#id_amount", "0")
    page.screenshot(path=str(screenshot_dir / "start-form.png"), full_page=True)
    page.click("input[name=_start]")
    # The engine checks the input schema: the error is at the field, nothing is started.
    page.wait_for_selector(".field-amount .errorlist")
    assert "less than or equal to the minimum of 0" in page.inner_text(".field-amount .errorlist")
    assert page.input_value("#id_description") == "Taxi to the airport"
    assert WorkflowInstanceModel.objects.count() == 0

    page.fill("#id_amount", "38")
    page.click("input[name=_start]")
    page.wait_for_selector("#wf-instance-status")
    [instance] = WorkflowInstanceModel.objects.all()
    assert page.url.endswith(f"{INSTANCES}{instance.pk}/change/")
    assert page.inner_text(".messagelist .success") == (
        "Started expense_approval 1.0.0: the instance is waiting."
    )
    assert (instance.created_by, instance.tenant_id) == ("maria", "acme")
    assert instance.context_data["amount"] == 38
    page.screenshot(path=str(screenshot_dir / "started-instance.png"), full_page=True)


def test_message_lists_fit_1280_px(new_page: Any, screenshot_dir: Path) -> None:
    staff_user("petra", groups=("tenant:acme",), perms=("publish_message",))
    engine = PersistentExecutionEngine()
    for number in (1042, 1043):
        engine.publish_message_sync(
            "payment_received",
            f"order-{number}",
            {"amount": number},
            message_id=f"psp-{number}-9f2c1e7a",
            ttl=3600,
            tenant_id="acme",
        )
    engine.publish_message_sync("payment_received", "order-1", {}, ttl=60, tenant_id="globex")

    page = new_page()
    log_in(page, "petra")
    page.goto("/admin/workflows_app/messagemodel/")
    assert page.locator("#result_list tbody tr").count() == 2  # not the other tenant's
    assert_fits(page, "messages", screenshot_dir)
    page.goto("/admin/workflows_app/messagesubscriptionmodel/")
    assert "Waiting for messages" in page.content()
