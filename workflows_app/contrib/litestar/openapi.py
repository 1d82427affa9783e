"""``LocalSwaggerRenderPlugin``: Litestar's Swagger UI page, with its files served by the
application itself instead of a CDN.

Litestar's documentation pages load their scripts, style sheets, fonts and icon from
jsDelivr, unpkg or Google, so they stay blank offline and behind a proxy that lets the
browser reach nothing but the application. This plugin keeps Litestar's Swagger UI page
and serves what it loads from the OpenAPI router, under the plugin's path: Swagger UI from
the copy that django-ninja (a dependency of this app) ships in its static files, and this
app's icon.

.. code-block:: python

    from litestar.openapi import OpenAPIConfig

    from workflows_app.contrib.litestar import LocalSwaggerRenderPlugin

    app = Litestar(
        plugins=[WorkflowPlugin()],
        openapi_config=OpenAPIConfig(
            title="My API", version="1.0.0", render_plugins=[LocalSwaggerRenderPlugin()]
        ),
    )

Importing this module needs no Django set-up.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath
from litestar.response import File

if TYPE_CHECKING:
    from litestar import Router

__all__ = ["LocalSwaggerRenderPlugin"]

_APP_STATIC = Path(__file__).resolve().parents[2] / "static" / "workflows_app"

# Litestar's page also loads Swagger UI's standalone preset, which django-ninja does not
# ship. The page never uses it (it asks the bundle for ``SwaggerUIStandalonePreset``, which
# the bundle does not have, and keeps the base layout), so an empty script stands in.
_EMPTY_PRESET = "swagger-ui-standalone-preset.js"


def _ninja_static() -> Path:
    """django-ninja's static files, found without importing django-ninja (which reads
    Django's settings when imported)."""
    spec = importlib.util.find_spec("ninja")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("LocalSwaggerRenderPlugin serves django-ninja's Swagger UI: install it")
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "ninja"


def _files() -> dict[str, Path]:
    ninja = _ninja_static()
    return {
        "swagger-ui-bundle.js": ninja / "swagger-ui-bundle.js",
        "swagger-ui.css": ninja / "swagger-ui.css",
        "favicon.svg": _APP_STATIC / "favicon.svg",
    }


class LocalSwaggerRenderPlugin(SwaggerRenderPlugin):
    """Swagger UI at ``path`` (default ``/swagger``) under the OpenAPI path, loading nothing
    from another origin: its files are served at ``<path>/assets/<name>``.

    Other arguments are those of Litestar's ``SwaggerRenderPlugin`` (``init_oauth``,
    ``oauth2_redirect_url``, ``style``), but for the URLs of the files, which this plugin
    sets.
    """

    def __init__(self, path: str | Sequence[str] = "/swagger", **kwargs: Any) -> None:
        super().__init__(path=path, **kwargs)
        self._files = _files()
        self._assets = self.paths[0].rstrip("/") + "/assets"
        self._point_at("/schema")  # Litestar's default OpenAPI path, until the router says

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)
        self._point_at(router.path)
        router.register(
            get(
                f"{self._assets}/{{name:str}}",
                name=f"workflows-swagger-assets-{id(self)}",
                include_in_schema=False,
                sync_to_thread=False,
            )(self._asset)
        )

    def _point_at(self, openapi_path: str) -> None:
        base = openapi_path.rstrip("/") + self._assets
        self.js_url = f"{base}/swagger-ui-bundle.js"
        self.css_url = f"{base}/swagger-ui.css"
        self.standalone_preset_js_url = f"{base}/{_EMPTY_PRESET}"
        self.favicon = f'<link rel="icon" type="image/svg+xml" href="{base}/favicon.svg">'

    def _asset(self, name: FromPath[str]) -> Response:
        if name == _EMPTY_PRESET:
            return Response(b"", media_type="text/javascript")
        path = self._files.get(name)
        if path is None:
            raise NotFoundException()
        return File(path, filename=name, content_disposition_type="inline")
