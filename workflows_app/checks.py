"""System checks of workflows_app (``manage.py check``)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from django.core import checks

from workflows_app import conf


@checks.register()
def check_settings(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Report unknown keys (E001) and invalid values (E002) in ``settings.WORKFLOWS``."""
    raw = conf.raw_setting()
    errors: list[checks.CheckMessage] = [
        checks.Error(
            message,
            hint="See the WORKFLOWS setting in the installation docs.",
            id="workflows_app.E002",
        )
        for message in conf.invalid_values(raw)
    ]
    if not isinstance(raw, Mapping):
        return errors
    known = conf.WorkflowsSettings.keys()
    for key in conf.unknown_keys(raw):
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"Did you mean {close[0]!r}?" if close else f"Known keys: {', '.join(known)}."
        errors.append(
            checks.Error(
                f"Unknown key {key!r} in settings.{conf.SETTING_NAME}.",
                hint=hint,
                id="workflows_app.E001",
            )
        )
    return errors
