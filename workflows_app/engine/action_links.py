"""Action links: signed links in task e-mails that answer a simple form from the mail.

A **simple form** is a ``form_schema`` with exactly one property (under ``properties``;
``type``, when given, is ``"object"``), which is either

- a ``boolean``: two answers, ``true`` then ``false``, labelled by the property's
  ``x-action-labels`` (a list of two strings) or else "Approve" and "Reject"; or
- an ``enum`` of strings, numbers or booleans: one answer per value, labelled by
  ``enumNames`` (as long as the enum) or else the value itself.

Any other form (several fields, free text, nested data) gets no answer links, only the
link to the task's page. A link names the task, the answer and the user it was sent to,
and is signed with Django's ``SECRET_KEY`` and a salt of its own (:data:`SALT`), with the
time it was made: :func:`read` refuses it once it is older than ``ACTION_LINK_MAX_AGE``.
Nothing here answers a task: the page the link opens does, through the services.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.core import signing
from django.urls import NoReverseMatch, reverse

from workflows_app import conf

__all__ = [
    "SALT",
    "ActionLink",
    "LinkExpiredError",
    "LinkInvalidError",
    "Outcome",
    "answer_links",
    "outcomes",
    "read",
    "sign",
    "task_page_link",
    "unusable",
]

SALT = "workflows_app.action_link"
"""The signing salt of action links: a token signed for anything else does not read."""

ANSWER_URL_NAME = "workflows_actions:answer"
TASK_URL_NAME = "admin:workflows_app_humantaskmodel_change"
_SCALARS = (str, int, float, bool)


class LinkInvalidError(Exception):
    """The link was not made here (a typo, a change, another salt or secret)."""


class LinkExpiredError(LinkInvalidError):
    """The link was made here but is older than ``ACTION_LINK_MAX_AGE``."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One answer of a simple form: the field's value, and the words of its link."""

    value: Any
    label: str


@dataclasses.dataclass(frozen=True)
class ActionLink:
    """What a link says: answer ``task_id`` with ``value`` (as ``user_id``, whom it was
    sent to)."""

    task_id: str
    value: Any
    user_id: str


def simple_field(schema: Any) -> tuple[str, dict[str, Any]] | None:
    """The one field of a simple form (its name and JSON Schema), or None."""
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return None
    properties = schema.get("properties")
    if not isinstance(properties, dict) or len(properties) != 1:
        return None
    ((name, spec),) = properties.items()
    if not isinstance(spec, dict):
        return None
    return name, spec


def outcomes(schema: Any) -> list[Outcome]:
    """The answers of a simple form, in order; ``[]`` for any other form."""
    field = simple_field(schema)
    if field is None:
        return []
    spec = field[1]
    enum = spec.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, _SCALARS) for v in enum):
        names = spec.get("enumNames")
        if isinstance(names, list) and len(names) == len(enum):
            return [Outcome(value, str(name)) for value, name in zip(enum, names, strict=True)]
        return [Outcome(value, str(value)) for value in enum]
    if spec.get("type") == "boolean" and "enum" not in spec:
        labels = spec.get("x-action-labels")
        if not (isinstance(labels, list) and len(labels) == 2):
            labels = ["Approve", "Reject"]
        return [Outcome(True, str(labels[0])), Outcome(False, str(labels[1]))]
    return []


def answer_data(schema: Any, value: Any) -> dict[str, Any] | None:
    """The task's answer for the link's ``value``, or None when the form does not offer
    it (anymore)."""
    field = simple_field(schema)
    offered = outcomes(schema)
    # 1 == True in Python: compare types too, so a link for 1 does not answer true.
    if field is None or not any(_same(o.value, value) for o in offered):
        return None
    return {field[0]: value}


def label_of(schema: Any, value: Any) -> str | None:
    """The words of the link answering ``value``, or None."""
    return next((o.label for o in outcomes(schema) if _same(o.value, value)), None)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def sign(task_id: Any, value: Any, user_id: str) -> str:
    """The token of a link answering ``task_id`` with ``value``, sent to ``user_id``."""
    return signing.dumps({"t": str(task_id), "v": value, "u": str(user_id)}, salt=SALT)


def read(token: str, max_age: float | None = None) -> ActionLink:
    """What ``token`` says; raise :class:`LinkExpiredError` when it is older than
    ``max_age`` (default ``ACTION_LINK_MAX_AGE``), :class:`LinkInvalidError` when it was
    not made here."""
    if max_age is None:
        max_age = conf.get_settings().ACTION_LINK_MAX_AGE
    try:
        payload = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise LinkExpiredError(str(exc)) from None
    except (signing.BadSignature, ValueError) as exc:
        raise LinkInvalidError(str(exc)) from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("t"), str)
        or not isinstance(payload.get("u"), str)
        or not isinstance(payload.get("v"), _SCALARS)
    ):
        raise LinkInvalidError("not an action link")
    return ActionLink(task_id=payload["t"], value=payload["v"], user_id=payload["u"])


def answer_links(task: Any, user_id: str) -> list[tuple[str, str]]:
    """The ``(label, absolute URL)`` of each answer link of ``task`` for ``user_id``
    (``[]`` when action links are off or the form is not simple)."""
    settings = conf.get_settings()
    if not settings.ACTION_LINKS:
        return []
    base = settings.ACTION_LINKS_BASE_URL.rstrip("/")
    return [
        (
            outcome.label,
            base + reverse(ANSWER_URL_NAME, args=[sign(task.pk, outcome.value, user_id)]),
        )
        for outcome in outcomes(task.form_schema)
    ]


def task_page_link(task: Any) -> str | None:
    """The absolute URL of the task's page in the admin (None when action links are off
    or the admin is not installed)."""
    settings = conf.get_settings()
    if not settings.ACTION_LINKS:
        return None
    try:
        path = reverse(TASK_URL_NAME, args=[task.pk])
    except NoReverseMatch:
        return None
    return settings.ACTION_LINKS_BASE_URL.rstrip("/") + path


def unusable() -> str | None:
    """Why action links cannot work with these settings and URLs, or None."""
    if not conf.get_settings().ACTION_LINKS_BASE_URL:
        return "ACTION_LINKS_BASE_URL is not set"
    try:
        reverse(ANSWER_URL_NAME, args=["x"])
    except NoReverseMatch:
        return "the URLs do not include workflows_app.actions.urls"
    return None
