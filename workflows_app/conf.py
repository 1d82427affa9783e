"""The app's settings: one ``WORKFLOWS`` dict in the project settings, read through here.

Use ``conf.get_settings().EXECUTION_MODE``. The result is cached and rebuilt when
``WORKFLOWS`` changes under ``override_settings``. Unknown keys are ignored here and
reported by the system check ``workflows_app.E001``; invalid values raise
``ImproperlyConfigured`` here and are reported by ``workflows_app.E002``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any, Literal, get_args

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

SETTING_NAME = "WORKFLOWS"

ExecutionMode = Literal["inline", "worker"]
Dispatch = str
"""``"worker"``, ``"celery"``, or the dotted path of a dispatcher class."""


@dataclasses.dataclass(frozen=True)
class WorkflowsSettings:
    """The effective settings: defaults overridden by ``settings.WORKFLOWS``."""

    EXECUTION_MODE: ExecutionMode = "inline"
    """``"inline"``: the caller runs machine steps until the instance waits or ends.
    ``"worker"``: the caller commits and returns; ``manage.py workflows_worker`` runs the steps."""

    DISPATCH: Dispatch = "worker"
    """Who runs instances that have steps to run (in worker mode, and timers and retries
    in both modes): ``"worker"``, the ``workflows_worker`` processes, which poll the
    database (and on PostgreSQL are woken by ``NOTIFY``, see ``LISTEN_NOTIFY``);
    ``"celery"``, Celery workers, which get a task as soon as an instance is runnable
    (needs the ``celery`` extra); or the dotted path of a
    :class:`workflows_app.engine.dispatch.Dispatcher` subclass."""

    LISTEN_NOTIFY: bool = True
    """On PostgreSQL with ``DISPATCH = "worker"``: a commit that leaves an instance with a
    step to run now sends ``NOTIFY`` in its transaction, and idle workers ``LISTEN`` and
    wake at once instead of at their next poll. False: workers only poll."""

    USER_ID_FIELD: str = "username"
    """The user model attribute whose value is stored as a task's assignee or completer id."""

    AUTODISCOVER: bool = True
    """Import the ``workflows`` module of every installed app when Django starts."""

    LEASE_SECONDS: float = 60.0
    """How long a drive (an inline call or a worker) holds an instance without renewing its
    lease. A worker renews it while it runs a step; an inline call at each commit. A lapsed
    lease (a process that died) is taken over by a worker, which runs the step again."""

    MAX_DRIVE_ATTEMPTS: int = 3
    """How many drives in a row may end without committing anything (the process died,
    lost the database, or held the instance past its lease) before the instance is marked
    failed instead of being taken over again. Any commit of a drive starts the count
    anew."""

    REMINDER_EMAILS: bool = True
    """Send reminder e-mails (Django's mail backend) to a task's assignee, or to the
    members of its group, when its ``reminder_at`` comes."""

    CHECKPOINT_INTERVAL: float = 1.0
    """Seconds of consecutive machine steps the engine may run before it commits them.

    Results are committed at least this often, and always when the instance waits,
    completes or fails. ``0`` commits after every step. A crash re-runs the steps
    since the last commit."""

    TENANT_RESOLVER: Any = None
    """How the REST API and the admin find a request's tenant: a callable, or the dotted
    path of one, that takes the request and returns a tenant id (a string) or None. When
    set, everything a request reads or changes is scoped to that tenant (None: to rows
    without a tenant). When unset (the default), nothing is scoped: one tenant."""

    API_AUTH: tuple[str, ...] = (
        "workflows_app.api.auth.token_auth",
        "workflows_app.api.auth.session_auth",
    )
    """The django-ninja authentication callables of the REST API, as dotted paths, tried in
    order: by default a signed bearer token, then Django's session (with CSRF)."""

    API_TOKEN_MAX_AGE: float = 30 * 24 * 3600.0
    """How many seconds a bearer token from ``manage.py workflows_token`` stays valid."""

    API_TOKEN_CACHE_SECONDS: float = 0.0
    """How many seconds a process remembers the user of a bearer token it checked, to answer
    the token's next requests without the check and the user's query. 0 (the default)
    checks every request. Saving a user, or changing its groups or permissions, takes
    effect at once in the process that did it, and within this time in the others.
    """

    API_MAX_BODY_BYTES: int = 1024 * 1024
    """The largest request body the REST API reads; larger ones get a 413."""

    MERMAID_URL: str = "https://cdn.jsdelivr.net/npm/mermaid@11.4.1/dist/mermaid.esm.min.mjs"
    """Where the admin's pages load mermaid.js from to draw workflow graphs: the URL of an
    ES module build of Mermaid 11 (a CDN, or a copy the project serves itself). When the
    script cannot load, the pages show the graph's Mermaid text instead."""

    @classmethod
    def keys(cls) -> list[str]:
        """Return the names of the known keys, in declaration order."""
        return [field.name for field in dataclasses.fields(cls)]

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> WorkflowsSettings:
        """Build the settings from a ``WORKFLOWS`` dict, ignoring unknown keys.

        Raise ``ImproperlyConfigured`` when a known key has an invalid value.
        """
        problems = invalid_values(raw)
        if problems:
            raise ImproperlyConfigured("; ".join(problems))
        known = set(cls.keys())
        return cls(**{key: value for key, value in raw.items() if key in known})


def raw_setting() -> Any:
    """Return ``settings.WORKFLOWS`` as the project wrote it (``{}`` when absent)."""
    return getattr(django_settings, SETTING_NAME, {})


def unknown_keys(raw: Mapping[str, Any]) -> list[str]:
    """Return the keys of `raw` that are not settings of this app."""
    known = set(WorkflowsSettings.keys())
    return [key for key in raw if key not in known]


def invalid_values(raw: Any) -> list[str]:
    """Return one message per invalid value in `raw` (or for `raw` itself if not a dict)."""
    if not isinstance(raw, Mapping):
        return [f"{SETTING_NAME} must be a dict, not {type(raw).__name__}."]
    problems = []
    mode = raw.get("EXECUTION_MODE", "inline")
    if mode not in get_args(ExecutionMode):
        choices = ", ".join(repr(choice) for choice in get_args(ExecutionMode))
        problems.append(f"{SETTING_NAME}['EXECUTION_MODE'] must be one of {choices}, not {mode!r}.")
    dispatch = raw.get("DISPATCH", "worker")
    if dispatch not in ("worker", "celery") and not _dotted_path(dispatch):
        problems.append(
            f"{SETTING_NAME}['DISPATCH'] must be 'worker', 'celery' or the dotted path of a "
            f"dispatcher class, not {dispatch!r}."
        )
    listen = raw.get("LISTEN_NOTIFY", True)
    if not isinstance(listen, bool):
        problems.append(f"{SETTING_NAME}['LISTEN_NOTIFY'] must be True or False, not {listen!r}.")
    field = raw.get("USER_ID_FIELD", "username")
    if not isinstance(field, str) or not field:
        problems.append(
            f"{SETTING_NAME}['USER_ID_FIELD'] must be a non-empty string, not {field!r}."
        )
    autodiscover = raw.get("AUTODISCOVER", True)
    if not isinstance(autodiscover, bool):
        problems.append(
            f"{SETTING_NAME}['AUTODISCOVER'] must be True or False, not {autodiscover!r}."
        )
    emails = raw.get("REMINDER_EMAILS", True)
    if not isinstance(emails, bool):
        problems.append(f"{SETTING_NAME}['REMINDER_EMAILS'] must be True or False, not {emails!r}.")
    lease = raw.get("LEASE_SECONDS", 60.0)
    if isinstance(lease, bool) or not isinstance(lease, int | float) or lease <= 0:
        problems.append(
            f"{SETTING_NAME}['LEASE_SECONDS'] must be a number of seconds above 0, not {lease!r}."
        )
    attempts = raw.get("MAX_DRIVE_ATTEMPTS", 3)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        problems.append(
            f"{SETTING_NAME}['MAX_DRIVE_ATTEMPTS'] must be a whole number, 1 or more, "
            f"not {attempts!r}."
        )
    interval = raw.get("CHECKPOINT_INTERVAL", 1.0)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0:
        problems.append(
            f"{SETTING_NAME}['CHECKPOINT_INTERVAL'] must be a number of seconds (0 or more), "
            f"not {interval!r}."
        )
    resolver = raw.get("TENANT_RESOLVER")
    if resolver is not None and not (callable(resolver) or isinstance(resolver, str)):
        problems.append(
            f"{SETTING_NAME}['TENANT_RESOLVER'] must be a callable or its dotted path, "
            f"not {resolver!r}."
        )
    auth = raw.get("API_AUTH", ())
    if isinstance(auth, str) or not isinstance(auth, list | tuple):
        problems.append(f"{SETTING_NAME}['API_AUTH'] must be a list of dotted paths, not {auth!r}.")
    for key in ("API_TOKEN_MAX_AGE", "API_MAX_BODY_BYTES"):
        value = raw.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problems.append(f"{SETTING_NAME}['{key}'] must be a number above 0, not {value!r}.")
    cache = raw.get("API_TOKEN_CACHE_SECONDS", 0)
    if isinstance(cache, bool) or not isinstance(cache, int | float) or cache < 0:
        problems.append(
            f"{SETTING_NAME}['API_TOKEN_CACHE_SECONDS'] must be a number of seconds, 0 or "
            f"more, not {cache!r}."
        )
    mermaid = raw.get("MERMAID_URL", WorkflowsSettings.MERMAID_URL)
    if not isinstance(mermaid, str) or not mermaid.strip():
        problems.append(f"{SETTING_NAME}['MERMAID_URL'] must be a non-empty URL, not {mermaid!r}.")
    return problems


def _dotted_path(value: Any) -> bool:
    """Return whether ``value`` looks like ``package.module.Name``."""
    if not isinstance(value, str):
        return False
    parts = value.split(".")
    return len(parts) > 1 and all(part.isidentifier() for part in parts)


@functools.cache
def get_settings() -> WorkflowsSettings:
    """Return the effective settings (cached until ``WORKFLOWS`` changes)."""
    raw = raw_setting()
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(invalid_values(raw)[0])
    return WorkflowsSettings.from_mapping(raw)


@receiver(setting_changed, dispatch_uid="workflows_app.conf.reload_settings")
def reload_settings(*, setting: str, **kwargs: Any) -> None:
    """Drop the cached settings when ``override_settings`` changes ``WORKFLOWS``."""
    if setting == SETTING_NAME:
        get_settings.cache_clear()
