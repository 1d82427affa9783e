"""Sphinx configuration. Build with ``make docs`` (warnings are errors)."""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

import django

# autodoc imports workflows_app, whose Django parts need configured settings.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup()

project = "workflows_app"
author = "The workflows_app authors"
copyright = "2026, the workflows_app authors"
release = metadata.version("django-workflows-app")
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"

exclude_patterns = ["_build", "src"]
html_theme = "furo"
html_static_path = ["_static"]
html_title = f"workflows_app {release}"
