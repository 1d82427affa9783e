"""Fixtures of the browser tests: the demo project served by uvicorn on the test database,
and a headless Chromium page driven by Playwright.

The browser is the system's Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``); Playwright
never downloads one. Without it, or without the ``playwright`` package, the tests marked
``browser`` are skipped, with the reason (with ``BROWSER_TESTS=required``, as in CI, the
run stops instead).

Screenshots that tests take with the ``screenshot`` fixture go to ``$BROWSER_SCREENSHOTS``,
or else to ``screenshots/`` in pytest's temporary directory (the last run's is
``/tmp/pytest-of-<user>/pytest-current/screenshots/``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tests.live_server import uvicorn_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 15_000  # the longest wait for an element or a page


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)) and not shutil.which(
        CHROMIUM
    ):
        return f"no Chromium at {CHROMIUM} (scripts/install-browser installs Debian's chromium)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = missing_browser()
    if reason is None:
        return
    if os.environ.get("BROWSER_TESTS") == "required":  # CI: they must run
        raise pytest.UsageError(f"BROWSER_TESTS=required, but {reason}")
    skip = pytest.mark.skip(reason=f"browser test skipped: {reason}")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def server_url(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo project as ``make run`` serves it (static files included), with DEBUG off."""
    log_dir = tmp_path_factory.mktemp("browser-server")
    with uvicorn_server(
        "project.asgi:application",
        log_dir,
        ready_path="/admin/login/",
        env={"DJANGO_DEBUG": "0"},
    ) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium, started for one test.

    Playwright's sync API keeps an asyncio loop running in this thread while it is
    started, and Django refuses ORM calls where a loop runs; the tests' own queries are
    plain synchronous code, so the check is lifted for as long as Playwright runs.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        # While Playwright's loop runs, Django keeps this thread's connections apart (in
        # the loop's context): close those, or they outlive the test database's teardown.
        connections.close_all()
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def screenshots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots of this run go (see the module's docstring)."""
    chosen = os.environ.get("BROWSER_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def screenshot(screenshots_dir: Path, request: pytest.FixtureRequest) -> Any:
    """``screenshot(page, "name")``: save the whole page as ``<test>--<name>.png``; return
    the file's path."""

    def take(page: Any, name: str) -> Path:
        path = screenshots_dir / f"{request.node.name}--{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where a test saves its screenshots: ``$BROWSER_SCREENSHOTS`` (kept, for people and
    CI artifacts to look at), or the test's temporary directory."""
    where = os.environ.get("BROWSER_SCREENSHOTS")
    folder = Path(where) if where else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def new_page(browser: Any, server_url: str) -> Any:
    """``new_page()``: a page in a fresh browser context (its own cookies: one user each)."""

    def make() -> Any:
        context = browser.new_context(base_url=server_url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        return context.new_page()

    return make
