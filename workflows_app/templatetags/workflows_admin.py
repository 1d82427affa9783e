"""Template tags for admin pages: ``{% load workflows_admin %}``.

``{% workflows_inbox_counts as counts %}`` sets ``counts`` to the request user's task
counts (see :func:`workflows_inbox_counts`); ``{% include
"admin/workflows_app/inbox_counts.html" %}`` shows them with links to the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import template
from django.urls import reverse

from workflows_app.admin.base import actor_of
from workflows_app.services import TaskFilter, get_service

register = template.Library()


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
