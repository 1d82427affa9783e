"""Moving instances to another version of their workflow from the admin: a preview page,
then a confirmation that moves them.

The page hangs under the instances' list (``.../workflowinstancemodel/migrate/``) and is
for users with ``migrate_workflowinstance``; others get 403. It is opened by the list's
action (the selected instances, which must all run one version) or by a definition's
"Move instances…" link (every running, waiting or failed instance of that version). Its
GET form picks the target version and the mapping and shows what the plan would do; its
POST moves the instances. Both go through :meth:`WorkflowService.migrate
<workflows_app.services.WorkflowService.migrate>`, which checks the permission and keeps
to the user's tenant; nothing here writes a row.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.text import Truncator

from workflows_app.admin.base import actor_of
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import WorkflowNotFoundError, WorkflowValidationError
from workflows_app.core.migration import MigrationPlan
from workflows_app.core.registry import version_key
from workflows_app.core.types import StepType
from workflows_app.services import Actor

TEMPLATE = "admin/workflows_app/workflowinstancemodel/migrate.html"
PERMISSION = "migrate_workflowinstance"
SHOWN = 50
"""How many instances the preview lists (then "and N more")."""
REPORTED = 10
"""How many skipped or failed instances the result's message names."""
MAP_PREFIX = "map-"
"""A mapping's form fields: ``map-<source step>`` = target step (empty: the same name)."""


def urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """The page's URL, for the instances' admin's ``get_urls``."""
    name = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}"
    view = model_admin.admin_site.admin_view
    page = view(lambda request: preview_or_move(model_admin, request))
    return [path("migrate/", page, name=f"{name}_migrate")]


def page_url(workflow: str, version: str, ids: list[Any] | None = None, **more: str) -> str:
    """The preview of moving ``ids`` (None: every movable instance) of ``workflow`` at
    ``version``."""
    query = {"workflow": workflow, "version": version, **more}
    if ids is not None:
        query["ids"] = ",".join(str(pk) for pk in ids)
    url = reverse("admin:workflows_app_workflowinstancemodel_migrate")
    return f"{url}?{urlencode(query)}"


def may_migrate(request: HttpRequest) -> bool:
    return actor_of(request).can(PERMISSION)


def from_selection(request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    """The list's action: open the preview for the selected instances, if they all run
    one version of one workflow."""
    versions = sorted(set(queryset.order_by().values_list("workflow_name", "workflow_version")))
    if len(versions) != 1:
        found = ", ".join(f"{name} {version}" for name, version in versions)
        messages.error(
            request,
            f"Select instances that run one version of one workflow to move them; "
            f"these run {found}.",
        )
        return None
    [(workflow, version)] = versions
    ids = list(queryset.order_by("started_at", "pk").values_list("pk", flat=True))
    return HttpResponseRedirect(page_url(workflow, version, ids))


def preview_or_move(model_admin: Any, request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    if not actor.can(PERMISSION):
        raise PermissionDenied("You may not move workflows to another version.")
    params = request.POST if request.method == "POST" else request.GET
    service = model_admin.service
    try:
        source = service.get_definition(actor, params.get("workflow", ""), params.get("version"))
    except WorkflowNotFoundError:
        raise Http404("No such workflow version") from None
    ids = _ids(params.get("ids"))
    versions = service.registry.get_versions(source.name)
    targets = sorted((v for v in versions if v != source.version), key=version_key, reverse=True)
    to_version = params.get("to") if params.get("to") in targets else None
    if request.method == "POST":
        if to_version is None:
            raise Http404("No such target version")
        plan = MigrationPlan(source.name, source.version, to_version, _mapping(params))
        return _move(service, actor, request, plan, ids)
    context: dict[str, Any] = {"source": source, "targets": targets, "ids": params.get("ids")}
    if targets:
        target = service.get_definition(actor, source.name, to_version or targets[0])
        mapping = {step: to for step, to in _mapping(params).items() if to in target.steps}
        plan = MigrationPlan(source.name, source.version, target.version, mapping)
        preview = service.migrate(actor, plan, ids, dry_run=True)
        context.update(_preview_context(service, actor, source, target, plan, preview))
    title = f"Move {source.name} {source.version} to another version"
    return TemplateResponse(request, TEMPLATE, _context(model_admin, request, title, **context))


def _move(
    service: Any, actor: Actor, request: HttpRequest, plan: MigrationPlan, ids: list[Any] | None
) -> HttpResponse:
    try:
        result = service.migrate(actor, plan, ids)
    except WorkflowValidationError as exc:
        messages.error(request, f"Nothing moved: {'; '.join(exc.errors)}")
        more = {"to": plan.to_version, **{MAP_PREFIX + k: v for k, v in plan.mapping.items()}}
        return HttpResponseRedirect(page_url(plan.workflow, plan.from_version, ids, **more))
    messages.success(
        request,
        f"Moved {_count(len(result.moved))} to {plan.workflow} {plan.to_version}; "
        f"skipped {len(result.skipped)}.",
    )
    if result.skipped:
        messages.warning(request, f"Skipped: {_reasons(result.skipped)}")
    if result.failed:
        messages.error(request, f"Failed: {_reasons(result.failed)}")
    changelist = reverse("admin:workflows_app_workflowinstancemodel_changelist")
    return HttpResponseRedirect(f"{changelist}?{urlencode({'workflow': plan.workflow})}")


def _ids(text: str | None) -> list[uuid.UUID] | None:
    """The selected instances' ids (None: every movable instance of the version)."""
    if text is None:
        return None
    try:
        return [uuid.UUID(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise Http404("No such instance") from None


def _mapping(params: QueryDict) -> dict[str, str]:
    return {
        key.removeprefix(MAP_PREFIX): value
        for key, value in params.items()
        if key.startswith(MAP_PREFIX) and value
    }


def _kind(step: Any) -> str:
    return str(getattr(step, "step_type", StepType.MACHINE))


def _preview_context(
    service: Any,
    actor: Actor,
    source: WorkflowDefinition,
    target: WorkflowDefinition,
    plan: MigrationPlan,
    preview: Any,
) -> dict[str, Any]:
    steps = [
        {
            "name": name,
            "kind": _kind(step),
            "field": MAP_PREFIX + name,
            "in_target": name in target.steps,
            "mapped": plan.mapping.get(name, ""),
            "choices": [
                other
                for other, candidate in target.steps.items()
                if other != name and _kind(candidate) == _kind(step)
            ],
        }
        for name, step in source.steps.items()
    ]
    # Blocked instances first: they are what a person has to look at.
    checks = sorted(preview.instances, key=lambda check: check.movable)
    shown = checks[:SHOWN]
    rows = service.instances(actor).filter(pk__in=[check.instance_id for check in shown])
    found = {row.pk: row for row in rows.only("pk", "status", "current_step")}
    return {
        "target": target,
        "steps": steps,
        "plan": plan,
        "preview": preview,
        "diff": preview.diff,
        "checks": [(check, found.get(check.instance_id)) for check in shown],
        "more": len(checks) - len(shown),
        "movable": len(preview.movable),
        "blocked": len(preview.blocked),
    }


def _reasons(pairs: list[tuple[Any, str]]) -> str:
    shown = "; ".join(
        f"{str(pk)[:8]}: {Truncator(reason).chars(200)}" for pk, reason in pairs[:REPORTED]
    )
    more = len(pairs) - REPORTED
    return f"{shown}; and {more} more" if more > 0 else shown


def _count(number: int) -> str:
    return f"{number} instance" if number == 1 else f"{number} instances"


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
