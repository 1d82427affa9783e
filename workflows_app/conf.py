"""The app's settings: one ``WORKFLOWS`` dict in the project settings, read through here.

Use ``conf.get_settings().EXECUTION_MODE``. The result is cached and rebuilt when
``WORKFLOWS`` changes under ``override_settings``. Unknown keys are ignored here and
reported by the system check ``workflows_app.E001``; invalid values raise
``ImproperlyConfigured`` here and are reported by ``workflows_app.E002``.

A project reads what operators set per deployment from the environment with
:func:`settings_from_env`: ``WORKFLOWS = {..., **settings_from_env()}``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import typing
from collections.abc import Callable, Mapping
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

    TASK_EMAILS: bool = False
    """Send an e-mail to a task's assignee, or to the members of its group, when the task is
    created (the same people a reminder goes to)."""

    ACTION_LINKS: bool = False
    """Put signed links in the e-mails of human tasks (when created, ``TASK_EMAILS``, and
    reminders, ``REMINDER_EMAILS``): one per answer of a simple form (a single yes/no or
    choice field) and one to the task's page. A link opens a confirmation page; only the
    POST from that page answers. The project includes ``workflows_app.actions.urls``.
    See "Answer from an e-mail" in the human tasks docs."""

    ACTION_LINK_MAX_AGE: float = 7 * 24 * 3600.0
    """How many seconds an action link stays valid (7 days by default)."""

    ACTION_LINKS_ANONYMOUS: bool = False
    """Accept an action link without a login: the link alone answers as the user it was
    sent to (who then needs no account password). Off (the default): the person following
    the link logs in and must be allowed to answer the task. Read the risks in the docs."""

    ACTION_LINKS_BASE_URL: str = ""
    """The scheme and host the links in e-mails start with (``https://flows.example.com``).
    Needed when ``ACTION_LINKS`` is on: a worker sending a reminder has no request to
    take it from."""

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

    JSON_MAX_DEPTH: int = 31
    """How deeply the JSON the app stores may nest (context data, metadata, task answers,
    webhook payloads; the value itself is level 1). The default is the deepest MariaDB
    stores; other databases take more. Deeper input is refused before
    anything is written: a 422 from the API, ``WorkflowValidationError`` (or
    ``TaskValidationError`` for an answer) from the engine, a failed step for a step's
    output."""

    COMMENT_EDIT_SECONDS: float = 300.0
    """How many seconds after posting it the author of a task comment may still edit it
    (5 minutes by default); after that a comment stays as it is."""

    MERMAID_URL: str | None = None
    """Where the admin's pages load mermaid.js from to draw workflow graphs. None (the
    default): the copy of Mermaid 11 in the app's static files, so the pages need no other
    server. Otherwise a URL of Mermaid 11: its single-file build (``mermaid.min.js``), or
    an ES module build (a URL ending in ``.mjs``). When the script cannot load, the pages
    say so and show the graph's Mermaid text instead."""

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
    """Return one message per invalid value in `raw` (or for `raw` itself if not a dict).

    A value that :func:`settings_from_env` read names its environment variable."""
    if not isinstance(raw, Mapping):
        return [f"{SETTING_NAME} must be a dict, not {type(raw).__name__}."]
    return [
        f"{SETTING_NAME}[{key!r}] {requirement}, not {raw[key]!r}{_origin(raw, key)}."
        for key, (valid, requirement) in _RULES.items()
        if key in raw and not valid(raw[key])
    ]


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "EXECUTION_MODE": (
        lambda value: value in get_args(ExecutionMode),
        "must be one of " + ", ".join(repr(choice) for choice in get_args(ExecutionMode)),
    ),
    "DISPATCH": (
        lambda value: value in ("worker", "celery") or _dotted_path(value),
        "must be 'worker', 'celery' or the dotted path of a dispatcher class",
    ),
    "LISTEN_NOTIFY": (_flag, "must be True or False"),
    "USER_ID_FIELD": (
        lambda value: isinstance(value, str) and bool(value),
        "must be a non-empty string",
    ),
    "AUTODISCOVER": (_flag, "must be True or False"),
    "REMINDER_EMAILS": (_flag, "must be True or False"),
    "TASK_EMAILS": (_flag, "must be True or False"),
    "ACTION_LINKS": (_flag, "must be True or False"),
    "ACTION_LINKS_ANONYMOUS": (_flag, "must be True or False"),
    "ACTION_LINK_MAX_AGE": (
        lambda value: _number(value) and value > 0,
        "must be a number of seconds above 0",
    ),
    "ACTION_LINKS_BASE_URL": (
        lambda value: (
            isinstance(value, str) and (value == "" or value.startswith(("http://", "https://")))
        ),
        "must be '' or a URL starting with http:// or https://",
    ),
    "LEASE_SECONDS": (
        lambda value: _number(value) and value > 0,
        "must be a number of seconds above 0",
    ),
    "MAX_DRIVE_ATTEMPTS": (
        lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 1,
        "must be a whole number, 1 or more",
    ),
    "CHECKPOINT_INTERVAL": (
        lambda value: _number(value) and value >= 0,
        "must be a number of seconds (0 or more)",
    ),
    "TENANT_RESOLVER": (
        lambda value: value is None or callable(value) or isinstance(value, str),
        "must be a callable or its dotted path",
    ),
    "API_AUTH": (lambda value: isinstance(value, list | tuple), "must be a list of dotted paths"),
    "API_TOKEN_MAX_AGE": (lambda value: _number(value) and value > 0, "must be a number above 0"),
    "API_TOKEN_CACHE_SECONDS": (
        lambda value: _number(value) and value >= 0,
        "must be a number of seconds, 0 or more",
    ),
    "API_MAX_BODY_BYTES": (lambda value: _number(value) and value > 0, "must be a number above 0"),
    "JSON_MAX_DEPTH": (
        lambda value: isinstance(value, int) and not isinstance(value, bool) and 2 <= value <= 500,
        "must be a whole number from 2 to 500",
    ),
    "COMMENT_EDIT_SECONDS": (
        lambda value: _number(value) and value >= 0,
        "must be a number of seconds, 0 or more",
    ),
    "MERMAID_URL": (
        lambda value: value is None or (isinstance(value, str) and bool(value.strip())),
        "must be None or a non-empty URL",
    ),
}
"""What each key's value must be: a test, and the message's words when it fails."""


def _dotted_path(value: Any) -> bool:
    """Return whether ``value`` looks like ``package.module.Name``."""
    if not isinstance(value, str):
        return False
    parts = value.split(".")
    return len(parts) > 1 and all(part.isidentifier() for part in parts)


# -- settings from the environment -------------------------------------------------------

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

_prefixes: set[str] = set()
"""The prefixes :func:`settings_from_env` read the process environment with (the checks
look there again to name the variable behind a value, and to list stray variables)."""


def settings_from_env(
    prefix: str = "WORKFLOWS_", environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the ``WORKFLOWS`` keys set in the environment, typed, to merge into the setting.

    Each key is read from ``prefix + key`` (``WORKFLOWS_LEASE_SECONDS=30``): numbers as the
    key's type (``int`` or ``float``); flags from ``1``/``0``, ``true``/``false``,
    ``yes``/``no`` or ``on``/``off``; ``API_AUTH`` as a comma-separated list; other keys as
    text. An empty variable counts as unset. Text that does not parse is kept as it is:
    the system check ``workflows_app.E002`` reports it, naming the variable, instead of a
    traceback. ``environ`` defaults to ``os.environ``; the checks look only there.
    """
    if environ is None:
        environ = os.environ
        _prefixes.add(prefix)
    types = typing.get_type_hints(WorkflowsSettings)
    found: dict[str, Any] = {}
    for key in WorkflowsSettings.keys():
        text = environ.get(prefix + key, "").strip()
        if text:
            found[key] = _parse(text, types[key])
    return found


def stray_variables() -> dict[str, str | None]:
    """The variables of the process environment that have a prefix :func:`settings_from_env`
    read but name no key (a typo, say), each with the closest known variable or None."""
    stray: dict[str, str | None] = {}
    for prefix in sorted(_prefixes):
        known = [prefix + key for key in WorkflowsSettings.keys()]
        for name in sorted(os.environ):
            if name.startswith(prefix) and name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                stray[name] = close[0] if close else None
    return stray


def _parse(text: str, kind: Any) -> Any:
    """``text`` as a value of ``kind``, or ``text`` itself when it is not one."""
    if kind is bool:
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        return text
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            return text
    if typing.get_origin(kind) is tuple:
        return tuple(item.strip() for item in text.split(",") if item.strip())
    return text


def _origin(raw: Mapping[str, Any], key: str) -> str:
    """`` (from the environment variable X)`` when ``raw[key]`` is what X gives, else ``""``."""
    value = raw[key]
    for prefix in sorted(_prefixes):
        variable = prefix + key
        text = os.environ.get(variable, "").strip()
        if not text:
            continue
        parsed = _parse(text, typing.get_type_hints(WorkflowsSettings)[key])
        if type(parsed) is type(value) and repr(parsed) == repr(value):
            return f" (from the environment variable {variable})"
    return ""


@functools.cache
def get_settings() -> WorkflowsSettings:
    """Return the effective settings (cached until ``WORKFLOWS`` changes)."""
    raw = raw_setting()
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(invalid_values(raw)[0])
    return WorkflowsSettings.from_mapping(raw)


def get_setting(key: str) -> Any:
    """Return one key's effective value, raising ``ImproperlyConfigured`` only when that key's
    value is invalid. Code that runs while Django starts (and the URL checks import the
    API's routes) reads this way, so that the system checks report the other keys."""
    raw = raw_setting()
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(invalid_values(raw)[0])
    return getattr(WorkflowsSettings.from_mapping({key: raw[key]} if key in raw else {}), key)


@receiver(setting_changed, dispatch_uid="workflows_app.conf.reload_settings")
def reload_settings(*, setting: str, **kwargs: Any) -> None:
    """Drop the cached settings when ``override_settings`` changes ``WORKFLOWS``."""
    if setting == SETTING_NAME:
        get_settings.cache_clear()
