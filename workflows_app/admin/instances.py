"""The operations console: the admin's list of workflow instances and an instance's page.

The list shows the instances the user may see (the service's rules: their tenant only;
the ones they started or hold a task of, or all of them with ``view_workflowinstancemodel``),
newest first, with filters whose choices come from those rows. Two bulk actions cancel
and retry the selected instances through the service, one by one, and say which did not
move and why; only users with ``cancel_workflow`` / ``retry_workflow`` are offered them. A
third opens the page that moves them to another version (:mod:`.migrate`), for users with
``migrate_workflowinstance``.

Two more suspend the selected instances (a page asking for the reason first,
:mod:`.suspend`) and resume them, for users with ``suspend_workflowinstance``.

An instance's page shows its state (a Mermaid graph, drawn in the browser by mermaid.js
from the app's static files, its text when the script cannot load), its step
executions as a timeline, its tasks, its data, and the buttons that cancel, retry,
suspend (with a reason) or resume it (and, to the user who started it, withdraw it while
nobody has worked on it).
Every POST answers with a redirect back to the page; an error is a message on it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from workflows_app.admin import migrate, start, suspend
from workflows_app.admin.base import EngineOwnedAdmin, actor_of, mermaid_url, run_action
from workflows_app.core.compensation import CompensationStatus
from workflows_app.core.exceptions import (
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowsError,
)
from workflows_app.core.metadata import COMPENSATION
from workflows_app.core.types import WorkflowStatus
from workflows_app.engine.suspension import MAX_REASON, SUSPENDABLE
from workflows_app.models import StepExecutionModel, WorkflowInstanceModel
from workflows_app.services import Actor, InstanceSelection
from workflows_app.templatetags import workflows_admin

NO_TENANT = "-"
"""The tenant filter's value for instances without a tenant."""

_ID_PREFIX = re.compile(r"[0-9a-fA-F-]{4,36}")

_REPORTED_FAILURES = 10
"""How many instances a bulk action names when it could not act on them (then "N more")."""


def short_id(pk: Any) -> str:
    """The first eight hex digits of an id: enough to tell instances apart on a page."""
    return str(pk)[:8]


def _change_url(row: WorkflowInstanceModel) -> str:
    """The admin page of an instance (a child's node in its parent's graph links there)."""
    return reverse("admin:workflows_app_workflowinstancemodel_change", args=[row.pk])


def status_badge(status: str) -> str:
    return format_html('<span class="wf-badge wf-badge-{}">{}</span>', status, status)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def duration_text(span: timedelta | None) -> str:
    """``span`` for people: "850 ms", "12.4 s", "3 min 5 s", "2 h 10 min", "3 d 4 h"."""
    if span is None:
        return ""
    seconds = span.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


class _VisibleValuesFilter(admin.SimpleListFilter):
    """A filter on one column whose choices are the values of the rows the user sees
    (one ``SELECT DISTINCT``); never the whole table's, which would name other tenants'."""

    field: str = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        rows = model_admin.get_queryset(request).order_by()
        values = rows.values_list(self.field, flat=True).distinct()
        found = sorted(values, key=lambda value: (value is None, value or ""))
        return [self._choice(value) for value in found]

    def _choice(self, value: str | None) -> tuple[str, str]:
        return (value, value) if value is not None else (NO_TENANT, "(none)")

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset
        if value == NO_TENANT:
            return queryset.filter(**{f"{self.field}__isnull": True})
        return queryset.filter(**{self.field: value})


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(WorkflowInstanceModel._meta.get_field("status").choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset if value is None else queryset.filter(status=value)


class WorkflowNameFilter(_VisibleValuesFilter):
    title = "workflow"
    parameter_name = "workflow"
    field = "workflow_name"


class TenantFilter(_VisibleValuesFilter):
    title = "tenant"
    parameter_name = "tenant"
    field = "tenant_id"


class WorkflowInstanceAdmin(EngineOwnedAdmin):
    # Fits a 1280 px screen with the admin's navigation open: the id goes under the
    # workflow, the current step under the status, the starter under the start; the
    # tenant column is left out when tenancy is on (every row is the user's tenant's).
    list_display = ("instance", "status_mark", "started", "ended", "tenant")
    list_display_links = None  # the "instance" column links the workflow's name itself
    list_filter = (StatusFilter, WorkflowNameFilter, TenantFilter)
    search_fields = ("workflow_name", "created_by")
    ordering = ("-started_at",)
    sortable_by = ("instance", "status_mark", "started", "ended", "tenant")
    list_per_page = 50
    show_full_result_count = False  # one COUNT per page, not two
    actions: Any = (
        "cancel_instances",
        "retry_instances",
        "migrate_instances",
        "suspend_instances",
        "resume_instances",
    )
    change_list_template = "admin/workflows_app/workflowinstancemodel/change_list.html"
    change_form_template = "admin/workflows_app/workflowinstancemodel/instance.html"
    list_title = "Workflow instances"

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        if actor_of(request).scoped:
            return tuple(name for name in self.list_display if name != "tenant")
        return self.list_display

    def get_urls(self) -> list[Any]:
        return [*start.urls(self), *migrate.urls(self), *suspend.urls(self), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        extra_context = {
            "can_start": actor_of(request).can("start_workflow"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkflowInstanceModel]:
        # The list shows no JSON columns: leave the (possibly large) data in the database.
        return self.service.instances(actor_of(request)).defer("context_data", "metadata", "tokens")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Search names and users as Django does, and ids: a whole id, or its first digits
        (the short id the list shows)."""
        rows, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if _ID_PREFIX.fullmatch(term) and len(term.replace("-", "")) >= 4:
            try:
                by_id = Q(pk=uuid.UUID(term))
            except ValueError:
                by_id = Q(pk__istartswith=term)
            rows = rows | queryset.filter(by_id)
        return rows, duplicates

    # -- columns ------------------------------------------------------------------------

    @admin.display(description="instance", ordering="workflow_name")
    def instance(self, row: WorkflowInstanceModel) -> str:
        return format_html(
            '<a href="{}">{}</a> <span class="wf-version">{}</span>'
            '<code class="wf-sub" title="{}">{}</code>',
            reverse("admin:workflows_app_workflowinstancemodel_change", args=[row.pk]),
            row.workflow_name,
            row.workflow_version,
            row.pk,
            short_id(row.pk),
        )

    @admin.display(description="status", ordering="status")
    def status_mark(self, row: WorkflowInstanceModel) -> str:
        if not row.current_step or WorkflowStatus(row.status).is_terminal:
            return status_badge(row.status)
        return format_html(
            '{}<span class="wf-sub">at {}</span>', status_badge(row.status), row.current_step
        )

    @admin.display(description="started", ordering="started_at")
    def started(self, row: WorkflowInstanceModel) -> str:
        when = workflows_admin.wf_when(row.started_at)
        if not row.created_by:
            return when
        return format_html('{}<span class="wf-sub">by {}</span>', when, row.created_by)

    @admin.display(description="ended", ordering="completed_at")
    def ended(self, row: WorkflowInstanceModel) -> str:
        return workflows_admin.wf_when(row.completed_at) or self.get_empty_value_display()

    @admin.display(description="tenant", ordering="tenant_id")
    def tenant(self, row: WorkflowInstanceModel) -> str:
        return row.tenant_id or self.get_empty_value_display()

    # -- bulk actions ---------------------------------------------------------------------

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return actor_of(request).can("cancel_workflow")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return actor_of(request).can("retry_workflow")

    @admin.action(description="Cancel selected instances", permissions=["cancel"])
    def cancel_instances(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = actor_of(request)
        reason = f"Canceled from the admin by {actor.user_id}"
        done, failures = _each(queryset, lambda pk: self.service.cancel(actor, pk, reason))
        if done:
            messages.success(request, f"Canceled {_count(len(done))}.")
        _report_failures(request, failures, "canceled")

    @admin.action(description="Retry selected failed instances", permissions=["retry"])
    def retry_instances(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = actor_of(request)
        done, failures = _each(queryset, lambda pk: self.service.retry(actor, pk))
        if done:
            failed_again = sum(1 for row in done if row.status == WorkflowStatus.FAILED)
            note = f" ({failed_again} failed again)" if failed_again else ""
            messages.success(request, f"Retried {_count(len(done))}{note}.")
        _report_failures(request, failures, "retried")

    def has_migrate_permission(self, request: HttpRequest) -> bool:
        return migrate.may_migrate(request)

    @admin.action(description="Move to another version…", permissions=["migrate"])
    def migrate_instances(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return migrate.from_selection(request, queryset)

    def has_suspend_permission(self, request: HttpRequest) -> bool:
        return suspend.may_suspend(request)

    @admin.action(description="Suspend selected instances…", permissions=["suspend"])
    def suspend_instances(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return suspend.from_selection(request, queryset)

    @admin.action(description="Resume selected suspended instances", permissions=["suspend"])
    def resume_instances(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.order_by("started_at", "pk").values_list("pk", flat=True))
        actor = actor_of(request)
        suspend.report(
            request, self.service.resume_many(actor, InstanceSelection(ids=ids)), "resumed"
        )

    # -- the instance page ----------------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        actor = actor_of(request)
        try:
            row = self.service.get_instance(actor, object_id)
        except WorkflowInstanceNotFoundError:
            raise Http404("No such workflow instance") from None
        if request.method == "POST":
            self._act(request, actor, row)
            return HttpResponseRedirect(request.path)
        return self._render(request, actor, row)

    def _act(self, request: HttpRequest, actor: Actor, row: WorkflowInstanceModel) -> None:
        action = request.POST.get("action")
        if action == "cancel":
            reason = request.POST.get("reason", "").strip()
            if not reason:
                messages.error(request, "Say why you cancel the instance.")
                return
            compensate = request.POST.get("compensate") == "on"
            run_action(
                request,
                "The instance is being compensated, then canceled."
                if compensate
                else "The instance was canceled.",
                self.service.cancel,
                actor,
                row.pk,
                Truncator(reason).chars(1000),
                compensate,
            )
        elif action == "suspend":
            reason = request.POST.get("reason", "")
            run_action(
                request, "The instance is suspended.", self.service.suspend, actor, row.pk, reason
            )
        elif action == "resume":
            run_action(request, "The instance was resumed.", self.service.resume, actor, row.pk)
        elif action == "retry":
            from_step = request.POST.get("from_step") or None
            where = f"step {from_step}" if from_step else "its failed step"
            run_action(
                request,
                f"The instance runs again from {where}.",
                self.service.retry,
                actor,
                row.pk,
                from_step,
            )
        elif action == "withdraw":
            run_action(request, "You withdrew the instance.", self.service.withdraw, actor, row.pk)
        else:
            messages.error(request, "Unknown action.")

    def _render(
        self, request: HttpRequest, actor: Actor, row: WorkflowInstanceModel
    ) -> HttpResponse:
        try:
            row, definition, mermaid = self.service.instance_mermaid(
                actor, row.pk, child_href=_change_url
            )
        except WorkflowNotFoundError:  # the code no longer has this version
            definition, mermaid = None, None
        history = self.service.step_executions(actor, row.pk)
        tasks = list(self.service.tasks(actor).filter(instance_id=row.pk).order_by("created_at"))
        seen = {task.pk for task in tasks}
        live = not WorkflowStatus(row.status).is_terminal
        starter = live and self.service.may_withdraw(actor, row)
        compensation = row.metadata.get(COMPENSATION) if isinstance(row.metadata, dict) else None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{row.workflow_name} {short_id(row.pk)}",
            "subtitle": None,
            "opts": self.model._meta,
            "list_title": self.list_title,
            "instance": row,
            "status_badge": status_badge(row.status),
            # subworkflows: the parent (if the actor sees it) and the children it sees
            "parent": self.service.instances(actor).filter(pk=row.parent_id).first()
            if row.parent_id is not None
            else None,
            "children": [
                (child, status_badge(child.status))
                for child in self.service.child_instances(actor, row)
            ],
            "definition": definition,
            "steps": list(definition.steps) if definition is not None else [],
            "mermaid": mermaid,
            "mermaid_url": mermaid_url(),
            "timeline": [_timeline_entry(execution) for execution in history],
            "tasks": tasks,
            # the comments of the tasks the actor sees, oldest first
            "comments": [c for c in self.service.instance_comments(row.pk) if c.task_id in seen],
            "context_json": pretty_json(row.context_data),
            "metadata_json": pretty_json(row.metadata),
            "compensation": compensation,
            "compensation_failed": bool(compensation)
            and compensation.get("status") == CompensationStatus.FAILED,
            "can_cancel": live and actor.can("cancel_workflow"),
            "can_retry": row.status == WorkflowStatus.FAILED
            and actor.can("retry_workflow")
            and not (compensation and compensation.get("status") == CompensationStatus.COMPLETED),
            "can_suspend": row.status in SUSPENDABLE and actor.can(suspend.PERMISSION),
            "can_resume": row.status == WorkflowStatus.SUSPENDED and actor.can(suspend.PERMISSION),
            "max_reason": MAX_REASON,
            "can_withdraw": starter,
            "withdraw_refused": self.service.withdrawal_refused(actor, row) if starter else None,
            "has_view_permission": True,
        }
        return TemplateResponse(request, self.change_form_template, context)


def _each(
    queryset: QuerySet, act: Callable[[Any], WorkflowInstanceModel]
) -> tuple[list[WorkflowInstanceModel], list[tuple[Any, str]]]:
    """Call ``act`` for each selected instance, oldest first (the service checks each one);
    return the instances it acted on, and the others' ids with the reason."""
    done: list[WorkflowInstanceModel] = []
    failures: list[tuple[Any, str]] = []
    for pk in queryset.order_by("started_at", "pk").values_list("pk", flat=True):
        try:
            done.append(act(pk))
        except WorkflowsError as exc:  # NotAllowedError included
            failures.append((pk, str(exc)))
    return done, failures


def _report_failures(request: HttpRequest, failures: list[tuple[Any, str]], verb: str) -> None:
    if not failures:
        return
    shown = "; ".join(
        f"{short_id(pk)}: {Truncator(reason).chars(200)}"
        for pk, reason in failures[:_REPORTED_FAILURES]
    )
    more = len(failures) - _REPORTED_FAILURES
    if more > 0:
        shown += f"; and {more} more"
    messages.error(request, f"{_count(len(failures))} not {verb}: {shown}")


def _timeline_entry(execution: StepExecutionModel) -> dict[str, Any]:
    span = None
    if execution.completed_at is not None:
        span = execution.completed_at - execution.started_at
    return {
        "execution": execution,
        "duration": duration_text(span),
        "by": execution.completed_by or execution.assigned_to or "",
        "input": None if execution.input_data is None else pretty_json(execution.input_data),
        "output": None if execution.output_data is None else pretty_json(execution.output_data),
    }


def _count(number: int) -> str:
    return f"{number} instance" if number == 1 else f"{number} instances"
