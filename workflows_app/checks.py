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
    """Report unknown keys (E001) and invalid values (E002) in ``settings.WORKFLOWS``, and
    environment variables that :func:`~workflows_app.conf.settings_from_env` ignored (W002)."""
    raw = conf.raw_setting()
    errors: list[checks.CheckMessage] = [
        checks.Error(
            message,
            hint="See the WORKFLOWS setting in the installation docs.",
            id="workflows_app.E002",
        )
        for message in conf.invalid_values(raw)
    ]
    for variable, close in conf.stray_variables().items():
        hint = (
            f"Did you mean {close}?"
            if close
            else "See the WORKFLOWS keys in the installation docs."
        )
        errors.append(
            checks.Warning(
                f"The environment variable {variable} names no key of "
                f"settings.{conf.SETTING_NAME}, so it is ignored.",
                hint=hint,
                id="workflows_app.W002",
            )
        )
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


@checks.register(checks.Tags.database)
def check_worker_database(
    app_configs: Sequence[Any] | None = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn (W001) when worker mode runs on a database that cannot skip locked rows."""
    from django.db import connections

    if not databases or conf.invalid_values(conf.raw_setting()):
        return []  # no database to look at, or invalid settings (E002 reports them)
    if conf.get_settings().EXECUTION_MODE != "worker":
        return []
    return [
        checks.Warning(
            f"Worker mode on the {connections[alias].vendor} database {alias!r}, which has no "
            "SELECT ... FOR UPDATE SKIP LOCKED: workers take turns to claim instances.",
            hint="Use PostgreSQL or MariaDB/MySQL 8 to run several workers side by side.",
            id="workflows_app.W001",
        )
        for alias in databases
        if not connections[alias].features.has_select_for_update_skip_locked
    ]


@checks.register()
def check_dispatch(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Report a ``DISPATCH`` dispatcher that cannot be imported or is no dispatcher (E003)."""
    if conf.invalid_values(conf.raw_setting()):
        return []  # E002 reports them
    name = conf.get_settings().DISPATCH
    if name == "worker":
        return []
    from workflows_app.engine import dispatch

    try:
        dispatch.import_dispatcher(name)
    except (ImportError, TypeError) as exc:
        hint = (
            "Install the celery extra: pip install 'django-workflows-app[celery]'."
            if name == "celery"
            else "Name a subclass of workflows_app.engine.dispatch.Dispatcher."
        )
        return [
            checks.Error(
                f"settings.{conf.SETTING_NAME}['DISPATCH'] = {name!r} cannot be used: {exc}",
                hint=hint,
                id="workflows_app.E003",
            )
        ]
    return []


@checks.register(checks.Tags.urls)
def check_action_links(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Report ``ACTION_LINKS`` on without a base URL or without the links' pages (E004)."""
    if conf.invalid_values(conf.raw_setting()) or not conf.get_settings().ACTION_LINKS:
        return []
    from workflows_app.engine import action_links

    problem = action_links.unusable()
    if problem is None:
        return []
    return [
        checks.Error(
            f"settings.{conf.SETTING_NAME}['ACTION_LINKS'] is on, but {problem}.",
            hint="Set ACTION_LINKS_BASE_URL and include workflows_app.actions.urls in the "
            "project's URLs (see 'Answer from an e-mail' in the human tasks docs).",
            id="workflows_app.E004",
        )
    ]
