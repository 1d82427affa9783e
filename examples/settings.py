"""Django settings of the Litestar example: the engine's apps and a database, nothing more.

The database is ``DATABASE_URL`` (``postgres://...``, ``mysql://...``; default: SQLite in
``examples/example.sqlite3``), read with dj-database-url. Create its tables once with
``DJANGO_SETTINGS_MODULE=examples.settings django-admin migrate``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-do-not-deploy")
DEBUG = False
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "workflows_app"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'example.sqlite3'}")
    )
}
if os.environ.get("DATABASE_NAME"):  # the tests point it at their test database
    DATABASES["default"]["NAME"] = os.environ["DATABASE_NAME"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"]["OPTIONS"] = {"charset": "utf8mb4"}
