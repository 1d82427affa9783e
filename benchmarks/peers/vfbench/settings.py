"""Settings of the Viewflow driver's project; the database comes from ``VFBENCH_DATABASE_URL``."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

url = urlsplit(os.environ["VFBENCH_DATABASE_URL"])
if url.scheme == "sqlite":
    # The same options as the project's own SQLite settings.
    database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": url.path,
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }
else:
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": url.path.lstrip("/"),
        "USER": url.username or "",
        "PASSWORD": url.password or "",
        "HOST": url.hostname or "",
        "PORT": url.port or 5432,
    }

SECRET_KEY = "bench"
DEBUG = False
USE_TZ = True
DATABASES = {"default": database}
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "viewflow",
    "viewflow.workflow",
    "vfbench",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
