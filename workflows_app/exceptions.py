"""The exceptions of workflows_app (defined in :mod:`workflows_app.core.exceptions`)."""

from __future__ import annotations

from workflows_app.core.exceptions import *  # noqa: F403
from workflows_app.core.exceptions import __all__  # noqa: F401
