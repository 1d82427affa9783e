"""What every admin page of the app shares: engine-owned rows are read-only, and each
request has an :class:`~workflows_app.services.Actor` whose rules scope what it sees.

Staff users may open every page; what they then see is what the service lets their
actor see (tasks offered to them, instances they started or hold a task of, everything
with the view permissions; their tenant only). Nothing here writes a row: actions call
the service, which calls the engine. The pages that draw a graph load mermaid.js from
:func:`mermaid_url`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.templatetags.static import static

from workflows_app import conf
from workflows_app.core.exceptions import WorkflowsError
from workflows_app.services import Actor, NotAllowedError, WorkflowService, get_service

MERMAID_SCRIPT = "workflows_app/vendor/mermaid/mermaid.min.js"
"""The copy of mermaid.js in the app's static files (see its README.md)."""


def mermaid_url() -> str:
    """Where the pages that draw a graph load mermaid.js from: ``WORKFLOWS["MERMAID_URL"]``,
    or by default the app's own copy, through the project's static files storage."""
    return conf.get_settings().MERMAID_URL or static(MERMAID_SCRIPT)


def actor_of(request: HttpRequest) -> Actor:
    """The request's actor, built once per request."""
    return Actor.for_request(request, request.user)


class EngineOwnedAdmin(admin.ModelAdmin):
    """A read-only admin for rows only the engine writes; staff may look, as the service
    allows."""

    actions: Any = None
    list_title = ""
    """The list page's heading (Django's default: "Select ... to view")."""

    class Media:
        css = {"all": ["workflows_app/admin.css"]}

    @property
    def service(self) -> WorkflowService:
        return get_service()

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if self.list_title:
            extra_context = {"title": self.list_title, **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def run_action(request: HttpRequest, done: str, action: Any, *args: Any, **kwargs: Any) -> bool:
    """Call a service action; tell the user how it went (``done`` on success). Return
    whether it succeeded."""
    try:
        action(*args, **kwargs)
    except NotAllowedError as exc:
        messages.error(request, f"Not allowed: {exc}")
    except WorkflowsError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
        return True
    return False
