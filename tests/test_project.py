"""The demo project as a developer meets it: admin pages, static files, checks, migrations."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.staticfiles import finders
from django.core import checks
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings

from workflows_app.admin.base import mermaid_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_admin_login_page__renders(client: Client) -> None:
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert b'id="login-form"' in response.content


def test_home__redirects_to_admin(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_favicon__redirects_to_the_apps_icon(client: Client) -> None:
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"] == "/static/workflows_app/favicon.ico"
    icon = finders.find("workflows_app/favicon.ico")
    assert icon is not None
    assert Path(icon).read_bytes()[:4] == b"\x00\x00\x01\x00"  # an .ico file


@pytest.mark.django_db
def test_admin_pages__link_the_icon(client: Client) -> None:
    text = client.get("/admin/login/").content.decode()

    assert '<link rel="icon" href="/static/workflows_app/favicon.svg" type="image/svg+xml">' in text
    assert finders.find("workflows_app/favicon.svg") is not None


def test_api_docs__swagger_ui_from_static_files(client: Client) -> None:
    response = client.get("/api/docs")
    text = response.content.decode()

    assert response.status_code == 200
    assert '<script src="/static/ninja/swagger-ui-bundle.js"></script>' in text
    assert '<link type="text/css" rel="stylesheet" href="/static/ninja/swagger-ui.css">' in text
    assert "://" not in text  # nothing from another origin (django-ninja's CDN page has some)


def test_pages__name_no_other_origin() -> None:
    """The templates, scripts and styles of the app and the demo load nothing from
    elsewhere (the browser tests check the pages as served: tests/browser/test_offline.py)."""
    sources = [
        *(ROOT / "workflows_app" / "templates").rglob("*.html"),
        *(ROOT / "project" / "templates").rglob("*.html"),
        *(
            path
            for path in (ROOT / "workflows_app" / "static").rglob("*.*")
            if "vendor" not in path.parts and path.suffix in {".js", ".css", ".svg"}
        ),
    ]
    assert len(sources) > 10
    for path in sources:
        text = path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert re.search(r"(https?:)?//[\w.-]+\.\w+/", text) is None, path


def test_collectstatic__with_hashed_names_keeps_the_vendored_files(tmp_path: Path) -> None:
    manifest_storage = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=manifest_storage):
        call_command("collectstatic", "--noinput", verbosity=0)
        manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
        url = mermaid_url()

    for name in (
        "workflows_app/vendor/mermaid/mermaid.min.js",
        "workflows_app/graph.js",
        "workflows_app/favicon.svg",
        "workflows_app/favicon.ico",
        "ninja/swagger-ui-bundle.js",
        "ninja/swagger-ui.css",
    ):
        assert (tmp_path / manifest[name]).is_file(), name
    assert url == "/static/" + manifest["workflows_app/vendor/mermaid/mermaid.min.js"]


async def test_asgi_application__serves_admin_static_files() -> None:
    from project.asgi import application

    path = "/static/admin/css/base.css"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})

    start = await communicator.receive_output(timeout=5)
    body = b""
    while True:
        message = await communicator.receive_output(timeout=5)
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await communicator.wait(timeout=5)

    headers = {name.lower(): value for name, value in start["headers"]}
    assert start["status"] == 200
    assert headers[b"content-type"] == b"text/css"
    assert b"body" in body


@pytest.mark.django_db
def test_system_checks__report_no_errors() -> None:
    messages = checks.run_checks(databases=["default"])

    assert [message for message in messages if message.is_serious()] == []


@pytest.mark.django_db
def test_makemigrations__finds_no_model_changes() -> None:
    out = io.StringIO()

    # Exits with SystemExit(1) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)

    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_demo_setup__creates_then_resets_the_superuser() -> None:
    user_model = get_user_model()
    out = io.StringIO()

    call_command("demo_setup", stdout=out)
    user = user_model.objects.get(username="admin")
    user.set_password("changed")
    user.is_superuser = False
    user.save()
    call_command("demo_setup", stdout=out)

    assert user_model.objects.filter(username="admin").count() == 1
    user = authenticate(username="admin", password="admin")
    assert user is not None
    assert user.is_staff and user.is_superuser
    assert "Created the demo superuser." in out.getvalue()
    assert "Updated the demo superuser." in out.getvalue()
    assert "admin / admin" in out.getvalue()


@pytest.mark.django_db
def test_demo_setup__refuses_without_debug() -> None:
    # pytest-django runs tests with DEBUG off, as Django's test runner does.
    with pytest.raises(CommandError, match="only with DEBUG on"):
        call_command("demo_setup", stdout=io.StringIO())

    assert not get_user_model().objects.filter(username="admin").exists()


@pytest.mark.postgres_only
def test_postgres_only_marker__runs_only_on_postgresql() -> None:
    assert connection.vendor == "postgresql"


def test_settings_from_env__a_bad_value_stops_manage_py_with_the_documented_error() -> None:
    """``WORKFLOWS_LEASE_SECONDS=soon python manage.py check``, as the installation page
    shows it: a check error naming the variable, no traceback."""
    root = Path(settings.BASE_DIR)
    env = {**os.environ, "WORKFLOWS_LEASE_SECONDS": "soon", "PYTHONPATH": str(root)}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py's own
    run = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    line = (
        "?: (workflows_app.E002) WORKFLOWS['LEASE_SECONDS'] must be a number of seconds above "
        "0, not 'soon' (from the environment variable WORKFLOWS_LEASE_SECONDS)."
    )
    assert run.returncode == 1, run.stderr
    assert line in run.stderr.splitlines()
    assert "Traceback" not in run.stderr
    assert line in (root / "docs" / "installation.rst").read_text()
