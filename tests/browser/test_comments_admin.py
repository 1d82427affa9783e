"""Posting a comment on the admin's task page, in a real browser: the comment appears in
the task's thread, with its author, and on the instance page. The workflow is the API
tests' ``api_rework``, served by ``tests/browser/send_back_asgi.py``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import TIMEOUT_MS, VIEWPORT
from tests.browser.test_admin_inbox import log_in, staff_user, task_url
from tests.browser.test_send_back_admin import pending, rework_server  # noqa: F401 (fixture)
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import TaskCommentModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reviewer__posts_a_comment_on_the_task_page(
    browser: Any,
    rework_server: str,  # noqa: F811
    screenshot: Any,
) -> None:
    staff_user("carl", groups=("reviewers",))
    started = PersistentExecutionEngine().start_workflow_sync("api_rework", created_by="wendy")
    write = pending(started.id, "write")

    context = browser.new_context(base_url=rework_server, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, "carl")
    page.goto(task_url(write))
    assert "No comments yet." in page.locator("#wf-comments").inner_text()
    page.fill("#id_wf_comment_text", "Use the Q3 figures, please")
    with page.expect_navigation():
        page.locator("#wf-comment-form input[name=_comment]").click()

    assert "Comment posted." in page.locator(".messagelist").inner_text()
    thread = page.locator("#wf-comments .wf-comment").all_inner_texts()
    assert len(thread) == 1 and "carl" in thread[0] and "Use the Q3 figures" in thread[0]
    screenshot(page, "task-comments")
    assert list(TaskCommentModel.objects.values_list("author", "text")) == [
        ("carl", "Use the Q3 figures, please")
    ]
    page.goto(f"/admin/workflows_app/workflowinstancemodel/{started.id}/change/")
    assert "Use the Q3 figures" in page.locator("#wf-instance-comments").inner_text()
