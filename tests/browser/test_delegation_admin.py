"""Delegation on the admin's task page, in a real browser: carl delegates the task to
dora, dora resolves it with her draft (she has no Complete button), carl sees the draft
and completes. The workflow is the API tests' ``api_rework``, served by
``tests/browser/send_back_asgi.py``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import TIMEOUT_MS, VIEWPORT
from tests.browser.test_admin_inbox import log_in, staff_user, task_url
from tests.browser.test_send_back_admin import pending, rework_server  # noqa: F401 (fixture)
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_delegate_resolve_and_the_owner_completes(
    browser: Any,
    rework_server: str,  # noqa: F811
) -> None:
    staff_user("carl", groups=("reviewers",))
    staff_user("dora")
    started = PersistentExecutionEngine().start_workflow_sync("api_rework", created_by="wendy")
    write = pending(started.id, "write")

    def person(username: str) -> Any:
        context = browser.new_context(base_url=rework_server, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        log_in(page, username)
        page.goto(task_url(write))
        return page

    carl = person("carl")
    carl.fill("#id_to_user", "dora")
    with carl.expect_navigation():
        carl.locator("#wf-delegate-form input[name=_delegate]").click()
    assert "delegated to dora" in carl.locator(".messagelist").inner_text()
    assert "delegated by carl to dora" in carl.locator("#wf-delegation").inner_text()

    dora = person("dora")
    assert dora.locator("#wf-complete-form").count() == 0
    with dora.expect_navigation():
        dora.locator("#wf-resolve-form input[name=_resolve]").click()
    assert "went back to carl" in dora.locator(".messagelist").inner_text()
    row = HumanTaskModel.objects.get(pk=write.pk)
    assert (row.assignee_id, row.delegation["state"]) == ("carl", "resolved")

    carl.goto(task_url(write))
    assert "dora answered a draft for carl" in carl.locator("#wf-delegation").inner_text()
    with carl.expect_navigation():
        carl.locator("#wf-complete-form input[name=_complete]").click()
    row.refresh_from_db()
    assert (row.status, row.completed_by) == ("completed", "carl")
