"""The task inbox: the admin's list of human tasks, and the page where a task is done.

The list shows, by default, the pending tasks offered to the user (assigned to them,
or unassigned in their groups, or in no group), earliest due first; filters choose
another scope (the API's names, :mod:`workflows_app.admin.scopes`), status, due state
or workflow. The rows come from the service
(:meth:`~workflows_app.services.WorkflowService.inbox_rows`): the filters here only show
their choices.

A task's page shows what the task asks, the instance's data and history, and the form
built from the step's ``form_schema``; its buttons complete, claim, release, reassign and
send back the task through the service (send back offers the steps the task's step lists
in ``send_back_to``, to whoever may complete the task). Every POST answers with a redirect, so reloading a page
never submits twice (and the engine completes a task once whatever happens).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import CharField, F, Value
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from workflows_app.admin import scopes
from workflows_app.admin.base import EngineOwnedAdmin, actor_of, run_action
from workflows_app.admin.forms import TaskForm
from workflows_app.core.comments import MAX_TEXT as MAX_COMMENT
from workflows_app.core.exceptions import TaskNotFoundError, TaskValidationError, WorkflowsError
from workflows_app.core.types import TaskStatus
from workflows_app.models import HumanTaskModel
from workflows_app.services import (
    TASK_SCOPES,
    TaskFilter,
    TaskScope,
    is_due_soon,
    is_overdue,
    sent_back,
)
from workflows_app.templatetags import workflows_admin

DUE_SOON = timedelta(hours=24)
"""A pending task due within this is marked "due soon"."""


class _ServiceFilter(admin.SimpleListFilter):
    """A filter whose rows the service selects (in ``HumanTaskAdmin.get_queryset``); the
    class only offers the choices. ``default`` is the choice taken when none is given."""

    default: str | None = None

    def value(self) -> str | None:
        return super().value() or self.default

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset

    def choices(self, changelist: Any) -> Any:
        if self.default is None:
            yield {
                "selected": self.value() is None,
                "query_string": changelist.get_query_string(remove=[self.parameter_name]),
                "display": "All",
            }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class ScopeFilter(_ServiceFilter):
    """The service's scopes (:class:`~workflows_app.services.TaskScope`, the API's
    ``scope`` too); "All tasks" only for users who may list every task."""

    title = "tasks"
    parameter_name = "scope"
    default = scopes.DEFAULT

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        sees_all = model_admin.service.sees_all_tasks(actor_of(request))
        return [
            (scope.value, scope.label) for scope in TaskScope if scope != TaskScope.ALL or sees_all
        ]


class StatusFilter(_ServiceFilter):
    title = "status"
    parameter_name = "status"
    default = TaskStatus.PENDING

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*HumanTaskModel._meta.get_field("status").choices, ("any", "Any")]


class DueFilter(_ServiceFilter):
    title = "due"
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("overdue", "Overdue"), ("soon", "Due within 24 hours")]


class WorkflowFilter(_ServiceFilter):
    title = "workflow"
    parameter_name = "workflow"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = {definition.name for definition in model_admin.service.list_definitions(None)}
        return [(name, name) for name in sorted(names)]


FILTERS = (ScopeFilter, StatusFilter, DueFilter, WorkflowFilter)

LIST_DEFERRED = (
    "description",
    "form_schema",
    "activity",
    "delegation",
    "instance__context_data",
    "instance__metadata",
    "instance__tokens",
    "instance__error",
)
"""Columns the list does not show (large JSON and text): not read for its rows."""


class CappedCountPaginator(Paginator):
    """Counts the list's rows up to :attr:`cap` only. An operator's inbox may hold
    millions of pending tasks: counting them all would cost a scan on every page, for a
    number nobody pages through. Past the cap, the list says "more than 10,000" and
    offers the pages up to there; filters and search narrow it down."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        # Without ORDER BY, the database stops at the cap's row.
        return self.object_list.order_by()[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap

    @property
    def cap_text(self) -> str:
        return f"{self.cap:,}"


class HumanTaskAdmin(EngineOwnedAdmin):
    # Five columns fit a 1280 px screen with the admin's navigation open: the workflow and
    # the step are a line under the title, not columns of their own.
    list_display = ("task", "assigned", "due", "priority", "status_mark")
    list_display_links = None  # the "task" column links the title itself
    list_filter = FILTERS
    list_select_related = ("instance",)
    search_fields = ("title", "step_name", "assignee_id", "assignee_group")
    sortable_by = ("task", "due", "priority", "status_mark")
    list_per_page = 50
    show_full_result_count = False  # one COUNT per page, not two
    paginator = CappedCountPaginator
    change_list_template = "admin/workflows_app/humantaskmodel/change_list.html"
    change_form_template = "admin/workflows_app/humantaskmodel/task.html"
    list_title = "Task inbox"

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        return [F("due_at").asc(nulls_last=True), "-priority", "created_at"]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        scope = request.GET.get("scope")
        if scope is not None:
            shown = scopes.shown(self.service, request, scope)
            if shown != scope:  # say so in the address too: redirect to the list shown
                query = request.GET.copy()
                if shown == scopes.DEFAULT:
                    del query["scope"]
                else:
                    query["scope"] = shown
                address = f"{request.path}?{query.urlencode()}" if query else request.path
                return HttpResponseRedirect(address)
        extra_context = {"scope_note": scopes.note(self.service, request), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def get_queryset(self, request: HttpRequest) -> Any:
        actor = actor_of(request)
        params = request.GET
        scope = params.get("scope") or scopes.DEFAULT
        if scope not in TASK_SCOPES:  # changelist_view redirects; other views get nothing
            return self.model.objects.none()
        if scope == TaskScope.ALL and not self.service.sees_all_tasks(actor):
            return self.model.objects.none()  # the service would refuse
        status = params.get("status") or StatusFilter.default
        due = params.get("due")
        query = TaskFilter(
            scope=scope,
            status=None if status == "any" else status,
            workflow_name=params.get("workflow") or None,
            overdue=True if due == "overdue" else None,
            due_within=DUE_SOON if due == "soon" else None,
        )
        # The list shows none of the JSON and text columns: leave them, and the instance's
        # (joined by list_select_related), unread.
        rows = self.service.inbox_rows(actor, query).defer(*LIST_DEFERRED)
        # Who looks, on each row, for the "assigned to" column ("for maria": a substitute's).
        return rows.annotate(wf_viewer=Value(actor.user_id, output_field=CharField()))

    @admin.display(description="task", ordering="title")
    def task(self, task: HumanTaskModel) -> str:
        url = reverse("admin:workflows_app_humantaskmodel_change", args=[task.pk])
        return format_html(
            '<a href="{}">{}</a><span class="wf-sub">{} &middot; {}</span>',
            url,
            task.title,
            task.instance.workflow_name,
            task.step_name,
        )

    @admin.display(description="assigned to")
    def assigned(self, task: HumanTaskModel) -> str:
        if task.completed_by:
            return format_html("<em>completed by</em> {}", task.completed_by)
        if task.owner_id and task.owner_id != task.assignee_id:
            return format_html("{} <em>(delegated by {})</em>", task.assignee_id, task.owner_id)
        viewer = getattr(task, "wf_viewer", None)
        if task.assignee_id and viewer is not None and task.assignee_id != viewer:
            return format_html('<span class="wf-for">for {}</span>', task.assignee_id)
        if task.assignee_id:
            return task.assignee_id
        if task.assignee_group:
            return format_html("<em>group</em> {}", task.assignee_group)
        return format_html("<em>{}</em>", "anyone")

    @admin.display(description="due", ordering="due_at")
    def due(self, task: HumanTaskModel) -> str:
        if task.due_at is None:
            return self.get_empty_value_display()
        now = timezone.now()
        when = workflows_admin.wf_when(task.due_at, now)
        if is_overdue(task, now):
            return format_html('<span class="wf-overdue">Overdue</span> {}', when)
        if is_due_soon(task, DUE_SOON, now):
            return format_html('<span class="wf-due-soon">{}</span>', when)
        return when

    @admin.display(description="status", ordering="status")
    def status_mark(self, task: HumanTaskModel) -> str:
        return format_html('<span class="wf-badge wf-badge-{}">{}</span>', task.status, task.status)

    # -- the task page ------------------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        actor = actor_of(request)
        try:
            task = self.service.get_task(actor, object_id)
        except TaskNotFoundError:
            raise Http404("No such task") from None
        form = TaskForm(task.form_schema)
        if request.method == "POST":
            action = request.POST.get("action")
            if action == "complete":
                form = TaskForm(task.form_schema, request.POST)
                done = self._complete(request, task, form)
                if done is not None:
                    return done
            elif action == "send_back":
                return self._send_back(request, task)
            elif action == "comment":
                return self._comment(request, task)
            elif action == "resolve":
                form = TaskForm(task.form_schema, request.POST)
                done = self._resolve(request, task, form)
                if done is not None:
                    return done
            elif action == "delegate":
                to_user = request.POST.get("to_user", "").strip()
                run_action(
                    request,
                    f"The task is delegated to {to_user}: you get it back with their draft.",
                    self.service.delegate_task,
                    actor,
                    task.pk,
                    to_user,
                )
                return HttpResponseRedirect(request.path)
            elif action in ("claim", "release", "reassign"):
                self._act(request, task, action)
                return HttpResponseRedirect(request.path)
            else:
                messages.error(request, "Unknown action.")
                return HttpResponseRedirect(request.path)
        return self._render(request, task, form)

    def _complete(
        self, request: HttpRequest, task: HumanTaskModel, form: TaskForm
    ) -> HttpResponse | None:
        """Complete the task from a valid form; None to show the form again with errors."""
        if not form.is_valid():
            return None
        try:
            instance = self.service.complete_task(
                actor_of(request),
                task.pk,
                form.output_data(),
                comment=request.POST.get("comment") or None,
            )
        except TaskValidationError as exc:
            form.add_schema_errors(exc.field_errors)
            return None
        except WorkflowsError as exc:  # already completed, not allowed, ...
            messages.error(request, str(exc))
            return HttpResponseRedirect(request.path)
        messages.success(
            request, f'Completed "{task.title}". The workflow is now {instance.status}.'
        )
        return HttpResponseRedirect(reverse("admin:workflows_app_humantaskmodel_changelist"))

    def _resolve(
        self, request: HttpRequest, task: HumanTaskModel, form: TaskForm
    ) -> HttpResponse | None:
        """The delegate's draft from a valid form: the task goes back to its owner; None to
        show the form again with errors."""
        if not form.is_valid():
            return None
        try:
            self.service.resolve_task(actor_of(request), task.pk, form.output_data())
        except WorkflowsError as exc:  # not the delegate, not delegated, ...
            messages.error(request, str(exc))
            return HttpResponseRedirect(request.path)
        owner = (task.delegation or {}).get("owner")
        messages.success(request, f'Your draft answer to "{task.title}" went back to {owner}.')
        return HttpResponseRedirect(reverse("admin:workflows_app_humantaskmodel_changelist"))

    def _comment(self, request: HttpRequest, task: HumanTaskModel) -> HttpResponse:
        """Post a comment on the task; back to its page, with the error if refused."""
        text = request.POST.get("comment_text", "")
        try:
            self.service.add_task_comment(actor_of(request), task.pk, text)
        except WorkflowsError as exc:  # empty, too long, not storable, ...
            messages.error(request, str(exc))
        else:
            messages.success(request, "Comment posted.")
        return HttpResponseRedirect(request.path)

    def _send_back(self, request: HttpRequest, task: HumanTaskModel) -> HttpResponse:
        """Send the task back to the step chosen, with the reason given; back to the inbox
        once it is done, to the task page with the error otherwise."""
        to_step = request.POST.get("to_step", "").strip()
        reason = request.POST.get("send_back_reason", "").strip()
        if not to_step or not reason:
            messages.error(request, "Choose the step to send the task back to, and say why.")
            return HttpResponseRedirect(request.path)
        try:
            self.service.send_back_task(actor_of(request), task.pk, to_step, reason)
        except WorkflowsError as exc:  # not allowed, no longer pending, not that step, ...
            messages.error(request, str(exc))
            return HttpResponseRedirect(request.path)
        messages.success(request, f'Sent "{task.title}" back to {to_step}.')
        return HttpResponseRedirect(reverse("admin:workflows_app_humantaskmodel_changelist"))

    def _act(self, request: HttpRequest, task: HumanTaskModel, action: str) -> None:
        actor = actor_of(request)
        if action == "claim":
            run_action(request, "The task is yours.", self.service.claim_task, actor, task.pk)
        elif action == "release":
            run_action(
                request, "The task is back in its group.", self.service.release_task, actor, task.pk
            )
        else:
            new_assignee = request.POST.get("new_assignee", "").strip() or None
            new_group = request.POST.get("new_group", "").strip() or None
            reason = request.POST.get("reason", "").strip()
            if not reason:
                messages.error(request, "Say why you reassign the task.")
                return
            run_action(
                request,
                "The task was reassigned.",
                self.service.reassign_task,
                actor,
                task.pk,
                new_assignee=new_assignee,
                new_group=new_group,
                reason=reason,
            )

    def _render(self, request: HttpRequest, task: HumanTaskModel, form: TaskForm) -> HttpResponse:
        actor = actor_of(request)
        instance, history = self.service.task_context(actor, task)
        excluded = self.service.is_excluded(actor, task)
        pending = task.status == TaskStatus.PENDING and not excluded
        # A delegated task is completed by its owner only; its delegate resolves it.
        can_resolve = pending and self.service.may_resolve(actor, task)
        not_owner = task.owner_id is not None and task.owner_id != actor.user_id
        can_complete = pending and not not_owner and self.service.may_complete(actor, task)
        delegation = self.service.delegation(task)
        if can_complete and delegation and delegation.get("draft") and request.method != "POST":
            form = TaskForm(task.form_schema, initial=delegation["draft"])  # the draft, to edit
        context = {
            **self.admin_site.each_context(request),
            "title": task.title,
            "subtitle": None,
            "opts": self.model._meta,
            "list_title": self.list_title,
            "task": task,
            "instance": instance,
            "history": history,
            "context_json": json.dumps(instance.context_data, indent=2, sort_keys=True),
            "form": form,
            "overdue": is_overdue(task),
            "due_soon": is_due_soon(task, DUE_SOON),
            "can_complete": can_complete,
            "sent_back": sent_back(task),
            "siblings": list(HumanTaskModel.objects.siblings(task)),
            "excluded": excluded and task.status == TaskStatus.PENDING,
            "excluded_users": self.service.excluded_users(task),
            "comments": self.service.task_comments(actor, task.pk),
            "max_comment": MAX_COMMENT,
            "send_back_targets": self.service.send_back_targets(task) if can_complete else [],
            "can_claim": pending
            and task.assignee_id is None
            and self.service.may_claim(actor, task),
            "can_release": pending
            and task.assignee_id is not None
            and task.assignee_group is not None
            and self.service.may_complete(actor, task),
            "can_reassign": task.status == TaskStatus.PENDING
            and self.service.may_reassign(actor, task),
            "delegation": delegation,
            "draft_json": json.dumps(delegation.get("draft"), indent=2, sort_keys=True)
            if delegation and delegation.get("draft") is not None
            else None,
            "can_resolve": can_resolve,
            "can_delegate": pending
            and not can_resolve
            and (delegation or {}).get("state") != "delegated"
            and self.service.may_delegate(actor, task),
            "on_behalf_of": self.service.on_behalf_of(actor, task) if pending else None,
            "has_view_permission": True,
        }
        return TemplateResponse(request, self.change_form_template, context)
