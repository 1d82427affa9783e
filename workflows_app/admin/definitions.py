"""The admin's workflow definitions: every stored version, whether it may start new
instances, and how many of its instances run or wait.

Definitions are code (the registry); their rows are synced from it and are not tenant
data, so every staff user sees every version. The instance counts are the user's
tenant's when tenancy is on. Two actions activate and deactivate versions through the
service (``change_workflowdefinitionmodel``); a deactivated version starts nothing new
and finishes the instances it has. A version's page draws its graph and lists its steps
and edges. For users with ``migrate_workflowinstance`` it links to moving its
instances to another version (:mod:`.migrate`).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from workflows_app.admin import migrate
from workflows_app.admin.base import EngineOwnedAdmin, actor_of, mermaid_url, run_action
from workflows_app.core.definition import WorkflowDefinition, condition_label
from workflows_app.core.exceptions import WorkflowNotFoundError, WorkflowsError
from workflows_app.core.registry import version_key
from workflows_app.models import WorkflowDefinitionModel

_PERMISSION = "change_workflowdefinitionmodel"


def _version_order() -> Any:
    """Each stored version's rank by semantic versioning ("1.10.0" after "1.9.0"), as an SQL
    expression: the database sorts text, so the ranks are worked out here (one small query:
    a project has tens of versions, not thousands)."""
    versions = WorkflowDefinitionModel.objects.values_list("pk", "version")
    ranked = sorted(versions, key=lambda row: version_key(row[1]))
    if not ranked:
        return Value(0)
    whens = [When(pk=pk, then=Value(rank)) for rank, (pk, _version) in enumerate(ranked)]
    return Case(*whens, default=Value(0), output_field=IntegerField())


class WorkflowDefinitionAdmin(EngineOwnedAdmin):
    list_display = ("name", "version_label", "active", "live", "summary")
    list_filter = ("name", "is_active")
    search_fields = ("name", "description")
    list_per_page = 100
    show_full_result_count = False
    actions: Any = ("activate_versions", "deactivate_versions")
    change_form_template = "admin/workflows_app/workflowdefinitionmodel/definition.html"
    list_title = "Workflow definitions"

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkflowDefinitionModel]:
        rows = self.service.definition_rows(actor_of(request))
        return rows.annotate(version_order=_version_order())

    def get_ordering(self, request: HttpRequest) -> list[str]:
        # An annotation of get_queryset (the ``ordering`` attribute may only name fields).
        return ["name", "-version_order"]

    @admin.display(description="version", ordering="version_order")
    def version_label(self, row: WorkflowDefinitionModel) -> str:
        return row.version

    @admin.display(description="starts new instances", boolean=True, ordering="is_active")
    def active(self, row: WorkflowDefinitionModel) -> bool:
        return row.is_active

    @admin.display(description="running or waiting", ordering="live_instances")
    def live(self, row: WorkflowDefinitionModel) -> int:
        return row.live_instances  # type: ignore[attr-defined]

    @admin.display(description="description")
    def summary(self, row: WorkflowDefinitionModel) -> str:
        if not row.description:
            return self.get_empty_value_display()
        first = row.description.strip().splitlines()[0]
        return format_html('<span title="{}">{}</span>', row.description, first)

    # -- actions --------------------------------------------------------------------------

    def has_activate_permission(self, request: HttpRequest) -> bool:
        return actor_of(request).can(_PERMISSION)

    @admin.action(description="Activate selected versions", permissions=["activate"])
    def activate_versions(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_active(request, queryset, active=True)

    @admin.action(description="Deactivate selected versions", permissions=["activate"])
    def deactivate_versions(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_active(request, queryset, active=False)

    def _set_active(self, request: HttpRequest, queryset: QuerySet, *, active: bool) -> None:
        actor = actor_of(request)
        change = self.service.activate_definition if active else self.service.deactivate_definition
        done, problems = [], []
        for name, version in queryset.order_by("name", "version").values_list("name", "version"):
            try:
                change(actor, name, version)
            except WorkflowsError as exc:
                problems.append(f"{name} {version}: {exc}")
            else:
                done.append(f"{name} {version}")
        verb = "Activated" if active else "Deactivated"
        if done:
            messages.success(request, f"{verb} {', '.join(done)}.")
        if problems:
            messages.error(request, "; ".join(problems))

    # -- a version's page -----------------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            pk = uuid.UUID(str(object_id))
        except ValueError:
            raise Http404("No such workflow definition") from None
        row = self.get_queryset(request).filter(pk=pk).first()
        if row is None:
            raise Http404("No such workflow definition")
        if request.method == "POST":
            self._act(request, row)
            return HttpResponseRedirect(request.path)
        return self._render(request, row)

    def _act(self, request: HttpRequest, row: WorkflowDefinitionModel) -> None:
        action = request.POST.get("action")
        actor = actor_of(request)
        if action == "activate":
            run_action(
                request,
                f"{row} starts new instances again.",
                self.service.activate_definition,
                actor,
                row.name,
                row.version,
            )
        elif action == "deactivate":
            run_action(
                request,
                f"{row} starts no new instances; its running ones go on.",
                self.service.deactivate_definition,
                actor,
                row.name,
                row.version,
            )
        else:
            messages.error(request, "Unknown action.")

    def _render(self, request: HttpRequest, row: WorkflowDefinitionModel) -> HttpResponse:
        actor = actor_of(request)
        try:
            definition = self.service.get_definition(actor, row.name, row.version)
        except WorkflowNotFoundError:  # a stored version whose code is gone
            definition = None
        if definition is not None:
            steps, edges = _steps_and_edges(definition)
        else:
            steps, edges = _stored_steps_and_edges(row.definition_json)
        may_change = actor.can(_PERMISSION)
        context = {
            **self.admin_site.each_context(request),
            "title": str(row),
            "subtitle": None,
            "opts": self.model._meta,
            "list_title": self.list_title,
            "row": row,
            "definition": definition,
            "mermaid": definition.to_mermaid() if definition is not None else None,
            "mermaid_url": mermaid_url(),
            "steps": steps,
            "edges": edges,
            "can_activate": may_change and not row.is_active,
            "can_deactivate": may_change and row.is_active,
            "instances_url": _instances_url(row),
            "migrate_url": (
                migrate.page_url(row.name, row.version)
                if definition is not None and actor.can(migrate.PERMISSION)
                else None
            ),
            "has_view_permission": True,
        }
        return TemplateResponse(request, self.change_form_template, context)


def _steps_and_edges(
    definition: WorkflowDefinition,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    steps = [
        {
            "name": key,
            "type": str(getattr(step, "step_type", "")),
            "description": getattr(step, "description", "") or "",
            "initial": key == definition.initial_step,
            "terminal": key in definition.terminal_steps,
        }
        for key, step in definition.steps.items()
    ]
    edges = [
        {
            "source": edge.get_source_name(),
            "target": edge.get_target_name(),
            "condition": condition_label(edge.condition) or "",
        }
        for edge in definition.edges
    ]
    return steps, edges


def _stored_steps_and_edges(
    document: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Steps and edges from a row's ``definition_json`` (when the registry lacks it)."""
    terminal = set(document.get("terminal_steps") or ())
    steps = [
        {
            "name": name,
            "type": "",
            "description": "",
            "initial": name == document.get("initial_step"),
            "terminal": name in terminal,
        }
        for name in document.get("steps") or ()
    ]
    edges = [
        {
            "source": edge.get("source", ""),
            "target": edge.get("target", ""),
            "condition": edge.get("condition") or "",
        }
        for edge in document.get("edges") or ()
        if isinstance(edge, dict)
    ]
    return steps, edges


def _instances_url(row: WorkflowDefinitionModel) -> str:
    query = urlencode({"workflow": row.name})
    return f"{reverse('admin:workflows_app_workflowinstancemodel_changelist')}?{query}"
