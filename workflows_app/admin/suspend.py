"""Suspending many instances from the admin: a page that asks for the reason, then
suspends them.

The page hangs under the instances' list (``.../workflowinstancemodel/suspend/``) and is
for users with ``suspend_workflowinstance``; others get 403. The list's bulk action opens
it with the selected instances; its GET shows them and asks for the reason, its POST
suspends them through :meth:`WorkflowService.suspend_many
<workflows_app.services.WorkflowService.suspend_many>` (which checks the permission, keeps
to the user's tenant and refuses each instance that cannot be suspended on its own) and
goes back to the list with what it did. Nothing here writes a row.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.text import Truncator

from workflows_app.admin.base import actor_of
from workflows_app.core.exceptions import WorkflowValidationError
from workflows_app.engine.suspension import MAX_REASON
from workflows_app.services import InstanceSelection, Outcome

TEMPLATE = "admin/workflows_app/workflowinstancemodel/suspend.html"
PERMISSION = "suspend_workflowinstance"
SHOWN = 50
"""How many selected instances the page lists (then "and N more")."""
REPORTED = 10
"""How many refused instances the result's message names."""


def urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """The page's URL, for the instances' admin's ``get_urls``."""
    name = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}"
    view = model_admin.admin_site.admin_view
    page = view(lambda request: ask_or_suspend(model_admin, request))
    return [path("suspend/", page, name=f"{name}_suspend")]


def may_suspend(request: HttpRequest) -> bool:
    return actor_of(request).can(PERMISSION)


def from_selection(request: HttpRequest, queryset: QuerySet) -> HttpResponse:
    """The list's action: open the page for the selected instances."""
    ids = ",".join(
        str(pk) for pk in queryset.order_by("started_at", "pk").values_list("pk", flat=True)
    )
    url = reverse("admin:workflows_app_workflowinstancemodel_suspend")
    return HttpResponseRedirect(f"{url}?{urlencode({'ids': ids})}")


def ask_or_suspend(model_admin: Any, request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    if not actor.can(PERMISSION):
        raise PermissionDenied("You may not suspend workflows.")
    params = request.POST if request.method == "POST" else request.GET
    text = params.get("ids", "")
    ids = _ids(text)
    service = model_admin.service
    reason = params.get("reason", "").strip()
    if request.method == "POST":
        try:
            outcomes = service.suspend_many(actor, reason, InstanceSelection(ids=ids))
        except WorkflowValidationError as exc:
            messages.error(request, f"Nothing suspended: {'; '.join(exc.errors)}")
        else:
            report(request, outcomes, "suspended")
            return HttpResponseRedirect(
                reverse("admin:workflows_app_workflowinstancemodel_changelist")
            )
    rows = service.instances(actor).filter(pk__in=ids).order_by("started_at", "pk")
    shown = list(
        rows.only("pk", "workflow_name", "workflow_version", "status", "current_step")[:SHOWN]
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Suspend workflow instances",
        "subtitle": None,
        "opts": model_admin.model._meta,
        "list_title": model_admin.list_title,
        "has_view_permission": True,
        "ids": text,
        "rows": shown,
        "more": max(0, len(ids) - len(shown)),
        "reason": reason,
        "max_reason": MAX_REASON,
    }
    return TemplateResponse(request, TEMPLATE, context)


def report(request: HttpRequest, outcomes: list[Outcome], verb: str) -> None:
    """Tell the user how many instances were ``verb`` and why the others were not."""
    done = [o for o in outcomes if o.done]
    refused = [o for o in outcomes if not o.done]
    if done:
        messages.success(request, f"{verb.capitalize()} {_count(len(done))}.")
    if refused:
        shown = "; ".join(
            f"{o.instance_id[:8]}: {Truncator(o.error or '').chars(200)}"
            for o in refused[:REPORTED]
        )
        more = len(refused) - REPORTED
        if more > 0:
            shown += f"; and {more} more"
        messages.error(request, f"{_count(len(refused))} not {verb}: {shown}")


def _ids(text: str) -> list[uuid.UUID]:
    try:
        ids = [uuid.UUID(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise Http404("No such instance") from None
    if not ids:
        raise Http404("No instance selected")
    return ids


def _count(number: int) -> str:
    return f"{number} instance" if number == 1 else f"{number} instances"
