"""LocalSwaggerRenderPlugin: Litestar's Swagger UI page with its files served by the
application, none from another origin (in process, Litestar's test client; the browser
test is in tests/browser/test_offline.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from litestar import Litestar, get
from litestar.openapi import OpenAPIConfig
from litestar.testing import TestClient

from workflows_app.contrib.litestar import LocalSwaggerRenderPlugin


@get("/ping", sync_to_thread=False)
def ping() -> dict[str, bool]:
    return {"pong": True}


def _app(openapi_path: str = "/schema", **kwargs) -> Litestar:
    config = OpenAPIConfig(
        title="Ping",
        version="1.0.0",
        path=openapi_path,
        render_plugins=[LocalSwaggerRenderPlugin(**kwargs)],
    )
    return Litestar([ping], openapi_config=config)


def _loaded(page: str) -> list[str]:
    """What the page's head loads: its scripts', style sheets' and icons' URLs."""
    return re.findall(r'(?:src|href)="([^"]+)"', page)


@pytest.mark.parametrize(
    ("openapi_path", "plugin_path", "assets"),
    [
        ("/schema", "/swagger", "/schema/swagger/assets"),
        ("/docs", "/ui", "/docs/ui/assets"),
    ],
)
def test_page__loads_every_file_from_the_application(openapi_path, plugin_path, assets) -> None:
    with TestClient(_app(openapi_path, path=plugin_path)) as client:
        root = client.get(openapi_path)
        page = client.get(openapi_path + plugin_path)
        answers = {url: client.get(url) for url in _loaded(page.text)}

    assert page.status_code == root.status_code == 200
    assert page.text == root.text  # the only plugin is also the docs' root
    assert "://" not in page.text.split("<body>")[0]
    assert sorted(answers) == [
        f"{assets}/favicon.svg",
        f"{assets}/swagger-ui-bundle.js",
        f"{assets}/swagger-ui-standalone-preset.js",
        f"{assets}/swagger-ui.css",
    ]
    assert {url: answer.status_code for url, answer in answers.items()} == dict.fromkeys(
        answers, 200
    )
    types = {
        url.rsplit("/", 1)[1]: answer.headers["content-type"] for url, answer in answers.items()
    }
    assert types == {
        "favicon.svg": "image/svg+xml",
        "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
        "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
        "swagger-ui.css": "text/css; charset=utf-8",
    }
    assert answers[f"{assets}/swagger-ui-bundle.js"].content.startswith(b"/*! For license")
    assert answers[f"{assets}/swagger-ui-standalone-preset.js"].content == b""
    icon = finders.find("workflows_app/favicon.svg")
    assert icon is not None
    assert answers[f"{assets}/favicon.svg"].content == Path(icon).read_bytes()


def test_assets__only_the_pages_files() -> None:
    with TestClient(_app()) as client:
        for name in ("swagger-ui.css.map", "redoc.standalone.js", "..%2Fsettings.py", "x"):
            assert client.get(f"/schema/swagger/assets/{name}").status_code == 404
        assert client.get("/schema/swagger/assets/a/b").status_code == 404


def test_schema__lists_neither_the_page_nor_its_files() -> None:
    with TestClient(_app()) as client:
        paths = client.get("/schema/openapi.json").json()["paths"]

    assert list(paths) == ["/ping"]
