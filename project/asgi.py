"""ASGI entry point of the demo project (``uvicorn project.asgi:application``)."""

from __future__ import annotations

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

# The demo has no web server in front of it, so the app serves /static/ itself (from the
# staticfiles finders, as runserver does). A real deployment serves STATIC_ROOT elsewhere.
application = ASGIStaticFilesHandler(get_asgi_application())
