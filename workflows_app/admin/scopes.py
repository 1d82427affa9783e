"""Which tasks the inbox lists: the scope in its address, and the sentence above it.

The scopes are the service's (:class:`~workflows_app.services.TaskScope`), the names the
REST API's ``GET /tasks?scope=`` takes too. :func:`shown` decides what an address's
``?scope=`` shows (an old name stands for its scope; a scope the user may not list, or
none, is the default, with a message saying why); :func:`note` says in a sentence what
the list holds, and tells a user who may see every task where the others are.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest
from django.utils.html import format_html

from workflows_app.admin.base import actor_of
from workflows_app.services import TASK_SCOPE_ALIASES, TASK_SCOPES, TaskScope, WorkflowService

DEFAULT = TaskScope.OFFERED
"""The inbox's scope when the address names none (the API's default too)."""


def shown(service: WorkflowService, request: HttpRequest, scope: str) -> str:
    """The scope the list shows for ``?scope=``: itself; for an old name, the scope it
    stands for (``visible``: all tasks, or the offered ones for a user who may not list
    them all, as before); otherwise the default, with a message saying why."""
    sees_all = service.sees_all_tasks(actor_of(request))
    if scope in TASK_SCOPE_ALIASES:
        scope = TASK_SCOPE_ALIASES[scope]
        return scope if scope != TaskScope.ALL or sees_all else DEFAULT
    if scope not in TASK_SCOPES:
        messages.warning(request, f'There is no "{scope}" list of tasks.')
        return DEFAULT
    if scope == TaskScope.ALL and not sees_all:
        messages.warning(
            request,
            "Only users who may see every task (view_humantaskmodel or "
            "complete_any_task) have the list of all tasks.",
        )
        return DEFAULT
    return scope


def note(service: WorkflowService, request: HttpRequest) -> str:
    """What the list holds, in a sentence; to a user who may see every task, where the
    others are (a superuser in no group has none offered, and would see an empty inbox
    without a word)."""
    actor = actor_of(request)
    scope = request.GET.get("scope") or DEFAULT
    no_tenant = actor.scoped and actor.tenant_id is None
    if scope == TaskScope.ALL:
        if no_tenant:
            return "Every task without a tenant (you belong to none), whoever it is for."
        return "Every task of your tenant, whoever it is offered to."
    no_group = "" if actor.groups else " You are in no group."
    if scope == TaskScope.ASSIGNED:
        text = "Tasks assigned to you."
    elif scope == TaskScope.GROUPS:
        text = f"Unassigned tasks of your groups.{no_group}"
    else:
        text = (
            "Tasks offered to you: assigned to you, or unassigned in one of your groups "
            f"or in no group.{no_group}"
        )
    if no_tenant:
        text += " You belong to no tenant: only tasks without one are listed."
    if not service.sees_all_tasks(actor):
        return text
    verb = "see and complete" if actor.can("complete_any_task") else "see"
    why = " as a superuser" if request.user.is_superuser else ""
    return format_html(
        '{} You may {} every task{}: <a href="?scope={}">{}</a>.',
        text,
        verb,
        why,
        TaskScope.ALL.value,
        TaskScope.ALL.label.lower(),
    )
