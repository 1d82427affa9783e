"""The pages work offline, and behind a proxy that lets nothing out: the admin's inbox, an
instance's page and a definition's page (and their icon), the REST API's docs
(django-ninja's Swagger UI) and the Litestar example's docs load everything from the
server that serves them.

The browser context aborts every request to another origin and keeps its URL; each test
fails if there was one, or if a request to the server itself failed. The graphs must
still be drawn: an SVG, by the copy of mermaid.js in the app's static files. Each page
is saved as a screenshot (see ``conftest.py`` for where).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import TIMEOUT_MS, VIEWPORT
from tests.browser.test_admin_inbox import expense_claim, log_in, staff_user
from tests.live_server import uvicorn_server
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import WorkflowDefinitionModel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MERMAID_SCRIPT = "**/workflows_app/vendor/mermaid/mermaid.min.js"


class Traffic:
    """What a browser context asked for: requests to other origins (aborted, never sent)
    and requests to the server that failed (an error, or a 4xx/5xx answer)."""

    def __init__(self, context: Any, server_url: str) -> None:
        self.origin = _origin(server_url)
        self.foreign: list[str] = []
        self.failed: list[str] = []
        context.route("**/*", self._route)
        context.on("requestfailed", self._request_failed)
        context.on("response", self._response)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if _origin(url) == self.origin:
            route.fallback()  # to the tests' own routes, if any, then to the server
        else:
            self.foreign.append(url)
            route.abort("blockedbyclient")

    def _request_failed(self, request: Any) -> None:
        # ERR_ABORTED: the browser dropped it itself (the page moved on, as a tab's icon
        # still loading does on the next navigation); not an answer of the server's.
        if _origin(request.url) == self.origin and request.failure != "net::ERR_ABORTED":
            self.failed.append(f"{request.url}: {request.failure}")

    def _response(self, response: Any) -> None:
        if _origin(response.url) == self.origin and response.status >= 400:
            self.failed.append(f"{response.url}: {response.status}")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


@pytest.fixture
def offline(browser: Any, server_url: str) -> Iterator[tuple[Any, Traffic]]:
    """A page of the demo whose context lets no request leave the server's origin."""
    context = browser.new_context(base_url=server_url, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    traffic = Traffic(context, server_url)
    try:
        yield context.new_page(), traffic
    finally:
        context.close()


def visit(page: Any, path: str) -> None:
    """Open ``path`` and wait until the network is quiet (what loads late has loaded)."""
    response = page.goto(path, wait_until="networkidle")
    assert response is not None and response.status == 200, f"{path}: {response}"


def assert_local(traffic: Traffic) -> None:
    assert traffic.foreign == [], "requests to other origins:\n" + "\n".join(traffic.foreign)
    assert traffic.failed == [], "failed requests:\n" + "\n".join(traffic.failed)


def assert_graph_drawn(page: Any, steps: list[str]) -> None:
    """One graph, drawn as an SVG with a node per step; the Mermaid text stays folded."""
    page.wait_for_selector(".wf-graph svg")
    graph = page.locator(".wf-graph .wf-graph-drawing > svg")
    assert graph.count() == 1
    nodes = graph.locator(".node").evaluate_all("nodes => nodes.map(node => node.id)")
    assert len(nodes) == len(steps), nodes
    for step in steps:
        assert any(f"-{step}-" in node for node in nodes), (step, nodes)
    # Mermaid sized each label's box for its text as the page styles it: none is cut off.
    clipped = graph.evaluate(
        """svg => Array.from(svg.querySelectorAll("foreignObject"))
            .filter(box => box.firstElementChild
                && box.firstElementChild.scrollWidth > box.width.baseVal.value + 1)
            .map(box => box.textContent)"""
    )
    assert clipped == []
    assert page.locator(".wf-graph-source").get_attribute("open") is None
    assert page.locator(".wf-graph pre:visible").count() == 0


def test_admin__inbox_instance_and_definition_pages_load_nothing_from_elsewhere(
    offline: tuple[Any, Traffic], screenshot: Any
) -> None:
    page, traffic = offline
    staff_user(
        "olga",
        groups=("managers", "tenant:acme"),
        perms=("view_workflowinstancemodel", "view_humantaskmodel"),
    )
    task = expense_claim("acme", "Train tickets", amount=89)
    PersistentExecutionEngine().sync_definitions()
    definition = WorkflowDefinitionModel.objects.get(name="expense_approval", version="1.0.0")
    steps = ["submit", "manager_approval", "reimburse", "notify_rejection"]

    log_in(page, "olga")
    visit(page, "/admin/workflows_app/humantaskmodel/")
    assert page.locator("#result_list tbody tr").count() == 1
    screenshot(page, "inbox")
    # The tab's icon, named by the page and at /favicon.ico (headless Chromium asks for neither).
    icons = page.locator('link[rel="icon"]').evaluate_all("links => links.map(link => link.href)")
    assert len(icons) == 2
    for url in [*icons, "/favicon.ico"]:
        answer = page.request.get(url)
        assert answer.status == 200 and answer.headers["content-type"].startswith("image/"), url

    visit(page, f"/admin/workflows_app/workflowinstancemodel/{task.instance_id}/change/")
    assert_graph_drawn(page, steps)
    screenshot(page, "instance")

    visit(page, f"/admin/workflows_app/workflowdefinitionmodel/{definition.pk}/change/")
    assert_graph_drawn(page, steps)
    screenshot(page, "definition")

    assert_local(traffic)


def test_admin__without_mermaid_js_the_graph_text_shows_once(
    offline: tuple[Any, Traffic], screenshot: Any
) -> None:
    page, traffic = offline
    staff_user("olga", groups=("tenant:acme",), perms=("view_workflowinstancemodel",))
    task = expense_claim("acme", "Train tickets")
    blocked: list[str] = []

    def block(route: Any) -> None:
        blocked.append(route.request.url)
        route.abort()

    log_in(page, "olga")
    page.route(MERMAID_SCRIPT, block)
    page.goto(f"/admin/workflows_app/workflowinstancemodel/{task.instance_id}/change/")
    page.wait_for_selector(".wf-graph-undrawn")

    assert len(blocked) == 1
    note = page.locator(".wf-graph-undrawn").inner_text()
    assert note.startswith("The graph could not be drawn here")
    assert page.locator(".wf-graph svg").count() == 0
    assert page.locator(".wf-graph-source").get_attribute("open") is not None
    [text] = page.locator(".wf-graph pre:visible").all()
    assert text.inner_text().startswith("graph TD")
    assert page.locator(".wf-graph").inner_text().count("graph TD") == 1
    screenshot(page, "instance-without-mermaid")
    assert traffic.foreign == []


def test_api_docs__swagger_ui_comes_from_static_files(
    offline: tuple[Any, Traffic], screenshot: Any
) -> None:
    page, traffic = offline

    visit(page, "/api/docs")
    page.wait_for_selector(".swagger-ui .opblock")

    assert "workflows_app demo" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".swagger-ui .opblock").count() > 10
    screenshot(page, "api-docs")
    assert_local(traffic)


def test_litestar_example__swagger_ui_comes_from_the_application(
    browser: Any, tmp_path: Path, screenshot: Any
) -> None:
    with uvicorn_server(
        "examples.litestar_app:app",
        tmp_path,
        ready_path="/schema/openapi.json",
        env={"DJANGO_SETTINGS_MODULE": "examples.settings"},
    ) as url:
        context = browser.new_context(base_url=url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        traffic = Traffic(context, url)
        page = context.new_page()
        try:
            for path in ("/schema", "/schema/swagger"):
                visit(page, path)
                page.wait_for_selector(".swagger-ui .opblock")
                assert page.locator(".swagger-ui .opblock").count() == 1  # the guide's route
            screenshot(page, "litestar-swagger")
        finally:
            context.close()
    assert_local(traffic)
