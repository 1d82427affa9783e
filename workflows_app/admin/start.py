"""Starting a workflow from the admin: pick a workflow, fill in its start form, and land
on the new instance's page.

The pages hang under the instances' list (``.../workflowinstancemodel/start/``) and are
for users with ``start_workflow``; others get 403. The form is built from the workflow's
``input_schema`` as a task's form is from its step's ``form_schema``
(:func:`~workflows_app.admin.forms.start_form`), or is a JSON text area when the
workflow declares none. The service starts the instance (the engine checks the data
against the schema); what the engine refuses shows at the form's fields, and nothing is
written.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from workflows_app.admin.base import actor_of
from workflows_app.admin.forms import JsonObjectForm, start_form
from workflows_app.core.exceptions import (
    WorkflowNotFoundError,
    WorkflowsError,
    WorkflowValidationError,
)
from workflows_app.services import Actor

PICK_TEMPLATE = "admin/workflows_app/workflowinstancemodel/start.html"
FORM_TEMPLATE = "admin/workflows_app/workflowinstancemodel/start_form.html"


def urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """The start pages' URLs, for the instances' admin's ``get_urls``."""
    name = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}"
    view = model_admin.admin_site.admin_view
    return [
        path("start/", view(lambda request: pick(model_admin, request)), name=f"{name}_start"),
        path(
            "start/<str:workflow>/",
            view(lambda request, workflow: fill_in(model_admin, request, workflow)),
            name=f"{name}_start_form",
        ),
    ]


def _starter(request: HttpRequest) -> Actor:
    actor = actor_of(request)
    if not actor.can("start_workflow"):
        raise PermissionDenied("You may not start workflows.")
    return actor


def pick(model_admin: Any, request: HttpRequest) -> HttpResponse:
    """The workflows one may start: the latest version of each, deactivated ones marked."""
    actor = _starter(request)
    service = model_admin.service
    inactive = set(
        service.definition_rows(actor).filter(is_active=False).values_list("name", "version")
    )
    workflows = [
        {
            "definition": definition,
            "active": (definition.name, definition.version) not in inactive,
            "url": reverse(
                "admin:workflows_app_workflowinstancemodel_start_form", args=[definition.name]
            ),
        }
        for definition in service.list_definitions(actor)
    ]
    context = _context(model_admin, request, "Start a workflow", workflows=workflows)
    return TemplateResponse(request, PICK_TEMPLATE, context)


def fill_in(model_admin: Any, request: HttpRequest, workflow: str) -> HttpResponse:
    """A workflow's start form; a valid POST starts it and redirects to the instance."""
    actor = _starter(request)
    service = model_admin.service
    # The version whose form was shown, so that a deploy in between cannot mix them up.
    version = (request.POST.get("version") or None) if request.method == "POST" else None
    try:
        definition = service.get_definition(actor, workflow, version)
    except WorkflowNotFoundError:
        raise Http404("No such workflow") from None
    schema = definition.input_schema
    if request.method != "POST":
        form = start_form(schema)
    else:
        form = start_form(schema, request.POST)
        if form.is_valid():
            try:
                instance = service.start(
                    actor, definition.name, form.output_data(), version=definition.version
                )
            except WorkflowValidationError as exc:
                if exc.field_errors:
                    form.add_schema_errors(exc.field_errors)
                else:
                    for error in exc.errors:
                        form.add_error(None, error)
            except WorkflowsError as exc:  # a deactivated version, not allowed, ...
                messages.error(request, str(exc))
            else:
                messages.success(
                    request,
                    f"Started {definition.name} {definition.version}: the instance is "
                    f"{instance.status}.",
                )
                change = "admin:workflows_app_workflowinstancemodel_change"
                return HttpResponseRedirect(reverse(change, args=[instance.pk]))
    context = _context(
        model_admin,
        request,
        f"Start {definition.name}",
        definition=definition,
        form=form,
        has_schema=bool(schema),
        json_editor=isinstance(form, JsonObjectForm),
    )
    return TemplateResponse(request, FORM_TEMPLATE, context)


def _context(model_admin: Any, request: HttpRequest, title: str, **more: Any) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": model_admin.model._meta,
        "list_title": model_admin.list_title,
        "has_view_permission": True,
        **more,
    }
