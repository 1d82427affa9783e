"""The page an action link opens: GET shows what the link would answer and asks to
confirm; only the POST from that page (CSRF-protected) answers, through the services.

Mail scanners and link previews fetch links: a GET never changes anything. A link that
was not made here shows a 400 page, an expired one a 403 page; a task answered (or
closed) meanwhile shows who answered and when: the first answer wins.

Who answers: by default the logged-in user (a visitor is sent to the login page first),
who must be allowed to complete the task like anywhere else. With
``ACTION_LINKS_ANONYMOUS`` on, the link alone answers as the user it was sent to (who
must still exist and be active). Either way the engine applies its rules (four-eyes).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from workflows_app import conf
from workflows_app.core.exceptions import (
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    TaskValidationError,
    UnauthorizedTaskError,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core.types import TaskStatus
from workflows_app.engine import action_links
from workflows_app.models import HumanTaskModel
from workflows_app.services import Actor, NotAllowedError, WorkflowService

__all__ = ["answer"]

TEMPLATE = "workflows_app/actions/answer.html"


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    """The confirmation page of an action link (GET), and the answer (POST)."""
    options = conf.get_settings()
    if not options.ACTION_LINKS:
        raise Http404("Action links are off.")
    try:
        link = action_links.read(token)
    except action_links.LinkExpiredError:
        return _page(request, "expired", status=403)
    except action_links.LinkInvalidError:
        return _page(request, "invalid", status=400)
    if not options.ACTION_LINKS_ANONYMOUS and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    actor = _actor(request, link)
    service = WorkflowService()
    try:
        if actor is None:
            raise TaskNotFoundError(link.task_id)
        task = service.get_task(actor, link.task_id)
    except TaskNotFoundError:
        return _page(request, "not_found", status=404)
    data = action_links.answer_data(task.form_schema, link.value)
    context = {"task": task, "label": action_links.label_of(task.form_schema, link.value)}
    if data is None:
        return _page(request, "invalid", status=400)
    if task.status != TaskStatus.PENDING:
        return _closed(request, task, context, status=200 if request.method == "GET" else 409)
    refused = _refusal(service, actor, task)
    if refused:
        return _page(request, "refused", status=403, reason=refused, **context)
    if request.method == "GET":
        return _page(request, "confirm", **context)
    try:
        service.complete_task(actor, task.pk, data)
    except (NotAllowedError, UnauthorizedTaskError) as exc:
        return _page(request, "refused", status=403, reason=str(exc), **context)
    except TaskValidationError as exc:
        return _page(request, "refused", status=422, reason=str(exc), **context)
    except (TaskAlreadyCompletedError, WorkflowStateError, WorkflowValidationError):
        # Answered (or closed) since the page was shown: the first answer won.
        task = service.get_task(actor, task.pk)
        if task.status != TaskStatus.PENDING:
            return _closed(request, task, context, status=409)
        raise
    return _page(request, "done", **{**context, "task": service.get_task(actor, task.pk)})


def _actor(request: HttpRequest, link: action_links.ActionLink) -> Actor | None:
    """Who answers: the logged-in user; else (anonymous mode) the link's active user."""
    if request.user.is_authenticated:
        return Actor.for_request(request, request.user)
    if "django.contrib.auth" not in settings.INSTALLED_APPS:
        return None
    field = conf.get_settings().USER_ID_FIELD
    user = get_user_model().objects.filter(is_active=True, **{field: link.user_id}).first()
    return None if user is None else Actor.for_user(user, request)


def _refusal(service: WorkflowService, actor: Actor, task: HumanTaskModel) -> str | None:
    """Why ``actor`` may not answer ``task`` (shown before a confirm button would be)."""
    if service.is_excluded(actor, task):
        return (
            "a four-eyes rule of this step excludes you from this task (you started the "
            "case, or did an earlier step of it)"
        )
    if not service.may_complete(actor, task):
        return "this task is not yours to answer"
    return None


def _closed(request: HttpRequest, task: HumanTaskModel, context: dict, status: int) -> HttpResponse:
    answered = task.status == TaskStatus.COMPLETED
    return _page(request, "answered" if answered else "closed", status=status, **context)


def _page(request: HttpRequest, state: str, status: int = 200, **context: Any) -> HttpResponse:
    return render(request, TEMPLATE, {"state": state, **context}, status=status)
