"""Moving instances to another version in a real browser: an operator selects waiting
instances on the list, takes the action, completes the plan on the preview page and
confirms. Headless Chromium at 1280x800 against the demo project plus the two versions of
``mig_doc`` (``tests/browser/migrate_asgi.py``); no request may leave the server's origin.
The preview page is saved as a screenshot (``--preview.png``, see ``conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.admin import migrate_workflows
from tests.browser.conftest import TIMEOUT_MS, VIEWPORT
from tests.browser.test_admin_inbox import log_in, staff_user
from tests.browser.test_offline import Traffic, assert_local
from tests.live_server import uvicorn_server
from workflows_app.core.registry import default_registry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import WorkflowInstanceModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIST = "/admin/workflows_app/workflowinstancemodel/"
PERMS = ("view_workflowinstancemodel", "view_humantaskmodel", "migrate_workflowinstance")


@pytest.fixture
def two_versions() -> Iterator[None]:
    """mig_doc 1.0.0 and 2.0.0 in this process too (the test starts instances)."""
    default_registry.register_module(migrate_workflows)
    yield
    default_registry.unregister("mig_doc")


@pytest.fixture
def migrate_server(django_db_setup: None, tmp_path: Path, two_versions: None) -> Iterator[str]:
    with uvicorn_server(
        "tests.browser.migrate_asgi:application",
        tmp_path,
        ready_path="/admin/login/",
        env={"DJANGO_DEBUG": "0"},
    ) as url:
        yield url


def test_operator__moves_waiting_instances_to_the_new_version(
    browser: Any, migrate_server: str, screenshot: Any
) -> None:
    staff_user("mona", groups=("tenant:acme",), perms=PERMS)
    engine = PersistentExecutionEngine()
    ids = [
        engine.start_workflow_sync("mig_doc", {}, tenant_id="acme", version="1.0.0").id
        for _ in range(2)
    ]
    context = browser.new_context(base_url=migrate_server, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    traffic = Traffic(context, migrate_server)
    page = context.new_page()
    try:
        log_in(page, "mona")
        page.goto(LIST)
        for pk in ids:
            page.check(f'input.action-select[value="{pk}"]')
        page.select_option("select[name=action]", "migrate_instances")
        with page.expect_navigation():
            page.click("button[name=index]")

        # The preview: 1.0.0's waiting step 'review' is not in 2.0.0 until it is mapped.
        assert page.locator("h1").inner_text() == "Move mig_doc 1.0.0 to another version"
        assert page.locator("#wf-migrate-problems").is_visible()
        assert page.locator("#wf-migrate-confirm").count() == 0
        page.select_option("#id_map-review", "check")
        with page.expect_navigation():
            page.click("input[name=_preview]")
        assert page.locator("#wf-migrate-problems").count() == 0
        heading = page.locator("#wf-migrate-instances h2").inner_text()
        assert heading == "Instances: 2 can move, 0 cannot"
        assert "review → check" in page.locator("#wf-migrate-diff").inner_text()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORT["width"], f"the page scrolls sideways: {width}px"
        screenshot(page, "preview")

        with page.expect_navigation():
            page.click("input[name=_move]")
        assert page.locator(".messagelist .success").inner_text() == (
            "Moved 2 instances to mig_doc 2.0.0; skipped 0."
        )
        assert_local(traffic)
    finally:
        context.close()
    rows = WorkflowInstanceModel.objects.filter(pk__in=ids)
    assert sorted(rows.values_list("workflow_version", "current_step")) == [
        ("2.0.0", "check"),
        ("2.0.0", "check"),
    ]
    assert {row.metadata["migrations"][0]["by"] for row in rows} == {"mona"}
