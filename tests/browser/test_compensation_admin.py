"""Compensation in a real browser: an operator cancels an instance from its page with the
"compensate" box ticked and sees the compensation summary and the compensation rows in the
timeline; a failed compensation shows its error and the "Retry the compensation" button,
which undoes the step and leaves the instance failed with the compensation completed. And
a parent's graph, drawn by mermaid.js, links its child's node to the child's page. The
workflows are the API tests' (``api_saga``, ``api_subflow``), served by
``tests/browser/send_back_asgi.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import TIMEOUT_MS, VIEWPORT
from tests.browser.test_admin_inbox import log_in, staff_user
from tests.live_server import uvicorn_server
from workflows_app.core.registry import default_registry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIST = "/admin/workflows_app/workflowinstancemodel/"
PERMS = ("view_workflowinstancemodel", "view_humantaskmodel", "cancel_workflow", "retry_workflow")


@pytest.fixture
def api_server(django_db_setup: None, tmp_path: Path) -> Iterator[str]:
    from tests.api import workflows

    default_registry.register_module(workflows)  # this process starts instances too
    with uvicorn_server(
        "tests.browser.send_back_asgi:application",
        tmp_path,
        ready_path="/admin/login/",
        env={"DJANGO_DEBUG": "0"},
    ) as url:
        yield url


@pytest.fixture
def operator_page(browser: Any, api_server: str) -> Any:
    staff_user("olga", groups=("reviewers", "tenant:acme"), perms=PERMS)
    context = browser.new_context(base_url=api_server, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, "olga")
    return page


def row(pk: Any) -> WorkflowInstanceModel:
    return WorkflowInstanceModel.objects.get(pk=pk)


def timeline(page: Any) -> list[str]:
    return page.locator(".wf-timeline tbody tr.wf-compensation").all_inner_texts()


def test_operator__cancels_with_compensate_and_sees_the_compensation(
    operator_page: Any, screenshot: Any
) -> None:
    started = PersistentExecutionEngine().start_workflow_sync("api_saga", tenant_id="acme")
    page = operator_page
    page.goto(f"{LIST}{started.id}/change/")
    assert not page.locator("#wf-compensation").count()

    page.fill("#id_reason", "trip off")
    page.check("#id_compensate")
    with page.expect_navigation():
        page.click("input[name=_cancel]")

    message = page.locator(".messagelist").inner_text()
    assert "The instance is being compensated, then canceled." in message
    summary = page.locator("#wf-compensation").inner_text()
    assert "completed" in summary and "undone: book" in summary, summary
    [undo] = timeline(page)
    assert "book" in undo and "compensation" in undo and "succeeded" in undo, undo
    screenshot(page, "compensated")
    done = row(started.id)
    assert (done.status, done.context_data["booked"]) == ("canceled", False)


def test_operator__retries_a_failed_compensation(operator_page: Any, screenshot: Any) -> None:
    engine = PersistentExecutionEngine()
    started = engine.start_workflow_sync("api_saga", {"undo_fails": True}, tenant_id="acme")
    task = HumanTaskModel.objects.get(instance_id=started.id)
    engine.complete_task_sync(task.pk, "olga", {})  # travel fails; undoing book fails
    page = operator_page
    page.goto(f"{LIST}{started.id}/change/")

    summary = page.locator("#wf-compensation").inner_text()
    assert "failed" in summary and "undoing book failed: hotel unreachable" in summary, summary
    [undo] = timeline(page)
    assert "failed" in undo and "hotel unreachable" in undo, undo
    screenshot(page, "compensation-failed")
    with page.expect_navigation():
        page.click("input[name=_retry]")

    summary = page.locator("#wf-compensation").inner_text()
    assert "completed" in summary and "undone: book" in summary, summary
    assert [("failed" in r, "succeeded" in r) for r in timeline(page)] == [
        (True, False),
        (False, True),
    ]
    assert not page.locator("input[name=_retry]").count()
    done = row(started.id)
    assert (done.status, done.error) == ("failed", "flight canceled")
    assert done.metadata["compensation"]["status"] == "completed"


def test_parent_graph__the_child_node_links_to_the_child_page(operator_page: Any) -> None:
    started = PersistentExecutionEngine().start_workflow_sync("api_subflow", tenant_id="acme")
    child = WorkflowInstanceModel.objects.get(parent_id=started.id)
    page = operator_page
    page.goto(f"{LIST}{started.id}/change/")
    page.locator(".wf-graph-drawn").wait_for()

    link = page.locator(".wf-graph-drawing svg a")  # mermaid's only link: the child's node
    assert link.count() == 1
    assert link.get_attribute("xlink:href") == f"{LIST}{child.pk}/change/"
    assert f"api_review {str(child.pk)[:8]}: waiting" in link.text_content()
    with page.expect_navigation():
        link.click()
    assert page.url.endswith(f"{LIST}{child.pk}/change/")
    assert page.locator("#wf-instance-parent").is_visible()
