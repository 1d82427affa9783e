"""Template tags for admin pages: ``{% load workflows_admin %}``.

``{{ value|wf_when }}`` shows a moment the one way every page of the app shows moments:
relative to now ("3 hours ago", "in 2 days"), with the exact local time on hover, as
``<time datetime="..." title="...">`` (:func:`wf_when`; the admin's Python columns call
it too).

``{% workflows_inbox_counts as counts %}`` sets ``counts`` to the request user's task
counts (see :func:`workflows_inbox_counts`); ``{% include
"admin/workflows_app/inbox_counts.html" %}`` shows them with links to the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django import template
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import avoid_wrapping, format_html
from django.utils.safestring import SafeString
from django.utils.timesince import TIME_STRINGS
from django.utils.translation import gettext

from workflows_app.admin.base import actor_of
from workflows_app.services import TaskFilter, get_service

register = template.Library()

EXACT_FORMAT = "Y-m-d H:i:s T"
"""How the exact moment is written in the hover text (Django's date format syntax), in
the current time zone."""

_NOW = timedelta(minutes=1)
"""Closer to now than this, a moment is "just now" (or "in under a minute")."""


_UNITS = (
    ("year", timedelta(days=365)),
    ("month", timedelta(days=30)),
    ("week", timedelta(days=7)),
    ("day", timedelta(days=1)),
    ("hour", timedelta(hours=1)),
    ("minute", timedelta(minutes=1)),
)


def _span_text(span: timedelta) -> str:
    """``span`` (a minute or more) in its largest unit, rounded: "3 days" for 2 days and
    23 hours (Django's ``timesince`` would say "2 days"); one line (no break inside)."""
    for name, unit in _UNITS:
        if span >= unit:
            return avoid_wrapping(TIME_STRINGS[name] % {"num": round(span / unit)})
    return avoid_wrapping(TIME_STRINGS["minute"] % {"num": 1})


@register.filter(is_safe=True)
def wf_when(value: datetime | str | None, now: datetime | None = None) -> SafeString | str:
    """``value`` (an aware datetime, or an ISO 8601 string as the tasks' activity keeps
    them) as ``<time>``: its text relative to ``now`` ("5 minutes ago", "in 3 days"; one
    unit, the largest), its ``datetime`` attribute in ISO 8601, its ``title`` the exact
    local time (:data:`EXACT_FORMAT`). Nothing (``""``) for None or what is not a moment.
    """
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    now = now or timezone.now()
    local = timezone.localtime(value)
    span = abs(value - now)
    if span < _NOW:
        text = gettext("just now") if value <= now else gettext("in under a minute")
    elif value < now:
        text = gettext("%(span)s ago") % {"span": _span_text(span)}
    else:
        text = gettext("in %(span)s") % {"span": _span_text(span)}
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        dateformat.format(local, EXACT_FORMAT),
        text,
    )


@dataclass(frozen=True)
class InboxCounts:
    """Pending tasks of one user: offered to them, assigned to them, overdue (of the
    offered ones), with the inbox URLs that list each."""

    offered: int
    assigned: int
    overdue: int
    inbox_url: str

    @property
    def offered_url(self) -> str:
        return self.inbox_url

    @property
    def assigned_url(self) -> str:
        return f"{self.inbox_url}?scope=assigned"

    @property
    def overdue_url(self) -> str:
        return f"{self.inbox_url}?due=overdue"


# Each count is the length of the inbox its link opens: the same TaskFilter.
QUERIES = {
    "offered": TaskFilter(),
    "assigned": TaskFilter(scope="assigned"),
    "overdue": TaskFilter(overdue=True),
}


@register.simple_tag(takes_context=True)
def workflows_inbox_counts(context: template.Context) -> InboxCounts | None:
    """The request user's pending tasks, counted (three COUNT queries), or None for a
    request without an active staff user (who has no inbox)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not (user.is_active and user.is_staff):
        return None
    actor = actor_of(request)
    service = get_service()
    counts = {name: service.inbox_rows(actor, query).count() for name, query in QUERIES.items()}
    return InboxCounts(**counts, inbox_url=reverse("admin:workflows_app_humantaskmodel_changelist"))
