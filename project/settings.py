"""Settings of the demo project.

The database is SQLite (``db.sqlite3`` at the repository root) unless ``DATABASE_URL`` is
set, for example ``postgres://postgres@127.0.0.1:5432/test`` or ``mysql://root:@127.0.0.1:3306/test``.
This is a development project: the secret key is public and DEBUG is on (DJANGO_DEBUG=0
turns it off).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import django

from workflows_app.conf import settings_from_env

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-demo-only-do-not-deploy")
# DJANGO_DEBUG=0 turns debugging off (`make bench` serves that way: DEBUG records every query).
DEBUG = os.environ.get("DJANGO_DEBUG", "1") != "0"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # django-ninja: with it installed, /api/docs serves Swagger UI from static files
    # rather than from a CDN.
    "ninja",
    "workflows_app",
    "project.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
# Where pages that need a login send visitors (the action links of task e-mails): the
# admin's login page, the only one the demo has.
LOGIN_URL = "admin:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The demo's own templates (its admin index shows the user's task counts).
        "DIRS": [BASE_DIR / "project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

# SQLite serialises writers. WAL lets readers run beside the writer, and IMMEDIATE makes
# every transaction take the write lock when it begins, so two writers queue on `timeout`
# instead of failing with "database is locked" when one of them upgrades a read lock.
SQLITE_OPTIONS: dict[str, Any] = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}


def database_from_url(url: str) -> dict[str, Any]:
    """Return a DATABASES entry for `url`, with the options this project needs per vendor."""
    import dj_database_url  # a dev dependency, needed only when DATABASE_URL is set

    database: dict[str, Any] = dict(dj_database_url.parse(url))
    engine = database["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        database["OPTIONS"] = {**SQLITE_OPTIONS, **database.get("OPTIONS", {})}
    elif engine == "django.db.backends.mysql":
        database["OPTIONS"] = {"charset": "utf8mb4", **database.get("OPTIONS", {})}
        database["TEST"] = {"CHARSET": "utf8mb4", **database.get("TEST", {})}
    return database


if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}
    # Two test runs against one server need two test databases.
    if os.environ.get("DATABASE_TEST_NAME"):
        DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ["DATABASE_TEST_NAME"]
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
            "OPTIONS": SQLITE_OPTIONS,
            # A file, not memory, so that subprocesses started by tests (workers, servers)
            # see the same test database.
            # DATABASE_TEST_NAME (a path) keeps two test runs on one machine apart.
            "TEST": {"NAME": os.environ.get("DATABASE_TEST_NAME") or BASE_DIR / "test_db.sqlite3"},
        }
    }

# A second alias on the same server, so that tests can prove `using=` keeps to its
# database. Nothing in the demo uses it.
DATABASES["secondary"] = {
    **DATABASES["default"],
    "TEST": {
        **DATABASES["default"].get("TEST", {}),
        "NAME": f"{DATABASES['default'].get('TEST', {}).get('NAME') or 'test_' + str(DATABASES['default']['NAME'])}_secondary",
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".static"

# Reminder e-mails go to the console in the demo. Django 6.1 configures mail with MAILERS
# (and refuses EMAIL_BACKEND beside it); older versions with EMAIL_BACKEND.
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

WORKFLOWS: dict[str, Any] = {
    # A user's tenant is its "tenant:<name>" group (none: rows without a tenant).
    "TENANT_RESOLVER": "project.demo.tenancy.tenant_of",
    # What operators change per deployment comes from WORKFLOWS_<KEY> variables, typed:
    # WORKFLOWS_EXECUTION_MODE=worker, WORKFLOWS_LEASE_SECONDS=30, WORKFLOWS_DISPATCH=celery,
    # WORKFLOWS_API_TOKEN_CACHE_SECONDS=5 (`make bench` measures the API both ways), ...
    # `manage.py check` reports a bad value (workflows_app.E002), naming its variable.
    **settings_from_env(),
}

# Celery, for WORKFLOWS["DISPATCH"] = "celery" (the celery extra): see project/celery.py.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "workflows")

# Tests point the processes they start (servers, workers) at their own test database.
if os.environ.get("DATABASE_NAME"):
    DATABASES["default"]["NAME"] = os.environ["DATABASE_NAME"]

# DATABASE_POOL=1 serves PostgreSQL connections from psycopg's pool (Django 5.1+), as an ASGI
# deployment should: without it every request opens a connection. `make bench` uses it.
if os.environ.get("DATABASE_POOL") and "postgresql" in DATABASES["default"]["ENGINE"]:
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "pool": {"min_size": 2, "max_size": 8},
    }
