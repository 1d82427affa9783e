"""Sending a task back for rework from the admin's task page, in a real browser: the
checker sends the report back with a reason, and its writer finds the new task, assigned
to them, with the reason on it. The workflow is the API tests' ``api_rework``, served by
``tests/browser/send_back_asgi.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import TIMEOUT_MS, VIEWPORT
from tests.browser.test_admin_inbox import log_in, staff_user, task_url
from tests.live_server import uvicorn_server
from workflows_app.core.registry import default_registry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def rework_server(django_db_setup: None, tmp_path: Path) -> Iterator[str]:
    from tests.api import workflows

    default_registry.register_module(workflows)  # this process starts instances too
    with uvicorn_server(
        "tests.browser.send_back_asgi:application",
        tmp_path,
        ready_path="/admin/login/",
        env={"DJANGO_DEBUG": "0"},
    ) as url:
        yield url


def pending(instance_id: Any, step: str) -> HumanTaskModel:
    return HumanTaskModel.objects.get(instance_id=instance_id, step_name=step, status="pending")


def test_checker__sends_the_report_back_to_its_writer(
    browser: Any, rework_server: str, screenshot: Any
) -> None:
    staff_user("wendy", groups=("reviewers",))
    staff_user("carl", groups=("reviewers",))
    engine = PersistentExecutionEngine()
    started = engine.start_workflow_sync("api_rework", created_by="wendy")
    engine.complete_task_sync(pending(started.id, "write").pk, "wendy", {})
    check = pending(started.id, "check")

    def page_of(user: str) -> Any:
        context = browser.new_context(base_url=rework_server, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        log_in(page, user)
        return page

    carl = page_of("carl")
    carl.goto(task_url(check))
    form = carl.locator("#wf-send-back-form")
    assert form.is_visible()
    assert form.locator("select[name=to_step] option").all_inner_texts() == ["write"]
    carl.fill("#id_send_back_reason", "The Q3 figures are missing")
    screenshot(carl, "send-back-form")
    with carl.expect_navigation():
        form.locator("input[name=_send_back]").click()
    message = carl.locator(".messagelist").inner_text()
    assert 'Sent "Check the report" back to write.' in message, message
    check.refresh_from_db()
    assert check.status == "canceled"

    again = pending(started.id, "write")
    assert again.assignee_id == "wendy"
    wendy = page_of("wendy")
    wendy.goto(task_url(again))
    notice = wendy.locator("#wf-sent-back").inner_text()
    assert "from step check by carl" in notice
    assert "The Q3 figures are missing" in notice
    assert wendy.locator("#wf-assigned-to").inner_text() == "wendy"
    screenshot(wendy, "sent-back-task")
