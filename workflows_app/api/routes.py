"""The REST API's django-ninja routes: HTTP in, an operation, JSON out.

Paths, parameters and shapes are litestar-workflows' (``/definitions``,
``/instances``, ``/tasks``, under the prefix the host mounts the router at;
``/workflows`` by default). Every POST answers 201, as upstream's do, but the migration,
suspension and resumption (added), which create nothing and answer 200. What each route
does is in :mod:`workflows_app.api.operations` (shared with the Litestar adapter); the
rules (who may see and do what, tenancy) in :mod:`workflows_app.services`.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from ninja import Body, Query, Router

from workflows_app import conf
from workflows_app.api import errors, operations
from workflows_app.api.schemas import (
    BulkOutcomeDTO,
    BulkResumeDTO,
    BulkSuspendDTO,
    CommentDTO,
    CompleteTaskDTO,
    DelegateTaskDTO,
    ErrorDTO,
    GraphDTO,
    GraphFormat,
    HumanTaskDTO,
    InstanceFilters,
    MessagePublishedDTO,
    MigrateDTO,
    MigrationDTO,
    PublishMessageDTO,
    ReassignTaskDTO,
    ResolveTaskDTO,
    SendBackDTO,
    StartWorkflowDTO,
    StepExecutionDTO,
    SuspendDTO,
    TaskCommentDTO,
    TaskFilters,
    WebhookAcceptedDTO,
    WorkflowDefinitionDTO,
    WorkflowInstanceDetailDTO,
    WorkflowInstanceDTO,
)
from workflows_app.services import Actor

__all__ = ["router"]

DEFINITIONS = "Workflow Definitions"
INSTANCES = "Workflow Instances"
TASKS = "Human Tasks"
WEBHOOKS = "Webhooks"
MESSAGES = "Messages"


def _auth() -> list[Any]:
    # Read on import, which the URL checks do: only this key, so that the system checks
    # report a wrong value of another one instead of this import failing.
    return [import_string(path) for path in conf.get_setting("API_AUTH")]


router = Router(auth=_auth())

# The error answers each kind of operation can give, for the OpenAPI schema.
_READ = {401: ErrorDTO, 404: ErrorDTO, 422: ErrorDTO}
# Any change may be refused before its input is parsed: a body over the limit (413), a NUL
# character in the query or a body that cannot be stored (422), even where none is expected.
_CHANGE = {status: ErrorDTO for status in (400, 401, 403, 404, 409, 413, 422)}
_TOTAL = {
    "responses": {
        200: {
            "headers": {
                operations.TOTAL_HEADER: {
                    "description": operations.TOTAL_HEADER_DESCRIPTION,
                    "schema": {"type": "integer"},
                }
            }
        }
    }
}


def _mark(run: Any) -> Any:
    """Mark the request as this API's (for the error handlers), refuse oversize bodies and
    input no route may take (:func:`~workflows_app.api.errors.input_answer`),
    before ninja parses anything."""

    @functools.wraps(run)
    def marked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        setattr(request, errors.MARK, True)
        limit = conf.get_settings().API_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return errors.body_too_large()
        if request.method in ("POST", "PUT", "PATCH"):
            try:
                if len(request.body) > limit:
                    return errors.body_too_large()
            except errors.RequestDataTooBig:
                return errors.body_too_large()
        refused = errors.refuse_input(request)
        if refused is not None:
            return refused
        return run(request, *args, **kwargs)

    return marked


router.add_decorator(_mark, mode="view")


def _json(result: Any, status: int = 200) -> HttpResponse:
    """Answer an operation's result (:func:`~workflows_app.api.operations.render`): ninja's
    own path would validate the DTOs again and encode them in Python."""
    content, headers = operations.render(result)
    return HttpResponse(content, status=status, content_type="application/json", headers=headers)


def actor(request: HttpRequest) -> Actor:
    """The :class:`Actor` of an authenticated request (built once per request)."""
    return Actor.for_request(request, request.auth)  # type: ignore[attr-defined]


# -- definitions --------------------------------------------------------------------------


@router.get(
    "/definitions",
    response={200: list[WorkflowDefinitionDTO], **_READ},
    tags=[DEFINITIONS],
)
def list_definitions(request: HttpRequest, active_only: bool = True) -> Any:
    """The latest version of each workflow (``active_only=false``: every version)."""
    return _json(operations.list_definitions(actor(request), active_only))


@router.get(
    "/definitions/{name}", response={200: WorkflowDefinitionDTO, **_READ}, tags=[DEFINITIONS]
)
def get_definition(request: HttpRequest, name: str, version: str | None = None) -> Any:
    """One workflow definition, at ``version`` or its latest."""
    return _json(operations.get_definition(actor(request), name, version))


@router.get("/definitions/{name}/graph", response={200: GraphDTO, **_READ}, tags=[DEFINITIONS])
def get_definition_graph(
    request: HttpRequest,
    name: str,
    graph_format: GraphFormat = "mermaid",
    version: str | None = None,
) -> Any:
    """The definition's graph: Mermaid source and nodes/edges (``json``: nodes and edges only)."""
    return _json(operations.definition_graph(actor(request), name, graph_format, version))


# -- instances ----------------------------------------------------------------------------


@router.post("/instances", response={201: WorkflowInstanceDTO, **_CHANGE}, tags=[INSTANCES])
def start_workflow(request: HttpRequest, data: StartWorkflowDTO) -> Any:
    """Start an instance; it runs until it waits, completes or fails (in worker mode, it is
    queued and answered as it stands)."""
    return _json(operations.start_workflow(actor(request), data), 201)


@router.get(
    "/instances",
    response={200: list[WorkflowInstanceDTO], **_READ},
    tags=[INSTANCES],
    openapi_extra=_TOTAL,
)
def list_instances(request: HttpRequest, filters: Query[InstanceFilters]) -> Any:
    """The instances the caller may see, newest first; the total is in ``X-Total-Count``."""
    return _json(operations.list_instances(actor(request), filters))


# Before "/instances/{instance_id}", whose pattern would take "migrate" as an id.
@router.post("/instances/migrate", response={200: MigrationDTO, **_CHANGE}, tags=[INSTANCES])
def migrate_instances(request: HttpRequest, data: MigrateDTO) -> Any:
    """(added) Move instances to another version of their workflow (``dry_run``: say which
    could move, and the plan's problems; write nothing). Needs the
    ``migrate_workflowinstance`` permission; only the caller's tenant's instances move. A
    plan with problems moves nothing (422)."""
    return _json(operations.migrate_instances(actor(request), data))


@router.post("/instances/suspend", response={200: BulkOutcomeDTO, **_CHANGE}, tags=[INSTANCES])
def suspend_instances(request: HttpRequest, data: BulkSuspendDTO) -> Any:
    """(added) Suspend instances by ``ids`` or by filter (the running and waiting ones),
    each on its own: the answer says, per instance, whether it was suspended or why not.
    Needs the ``suspend_workflowinstance`` permission; only the caller's tenant's."""
    return _json(operations.suspend_instances(actor(request), data))


@router.post("/instances/resume", response={200: BulkOutcomeDTO, **_CHANGE}, tags=[INSTANCES])
def resume_instances(request: HttpRequest, data: BulkResumeDTO) -> Any:
    """(added) Resume instances by ``ids`` or by filter (the suspended ones), each on its
    own. Needs the ``suspend_workflowinstance`` permission; only the caller's tenant's."""
    return _json(operations.resume_instances(actor(request), data))


@router.get(
    "/instances/{instance_id}", response={200: WorkflowInstanceDetailDTO, **_READ}, tags=[INSTANCES]
)
def get_instance(request: HttpRequest, instance_id: UUID) -> Any:
    """An instance with its context data and its step history."""
    return _json(operations.get_instance(actor(request), instance_id))


@router.get("/instances/{instance_id}/graph", response={200: GraphDTO, **_READ}, tags=[INSTANCES])
def get_instance_graph(request: HttpRequest, instance_id: UUID) -> Any:
    """The graph of the instance's version, its completed, failed and current steps coloured."""
    return _json(operations.instance_graph(actor(request), instance_id))


@router.get(
    "/instances/{instance_id}/steps",
    response={200: list[StepExecutionDTO], **_READ},
    tags=[INSTANCES],
)
def list_step_executions(request: HttpRequest, instance_id: UUID) -> Any:
    """(added) The instance's step executions, in the order they started."""
    return _json(operations.step_executions(actor(request), instance_id))


@router.post(
    "/instances/{instance_id}/cancel",
    response={201: WorkflowInstanceDTO, **_CHANGE, 422: ErrorDTO},
    tags=[INSTANCES],
)
def cancel_instance(
    request: HttpRequest,
    instance_id: UUID,
    reason: str = Query("User canceled", max_length=10_000),
    compensate: bool = Query(False),
) -> Any:
    """Cancel a running or waiting instance, and its pending tasks (409 once it has finished);
    with ``compensate=true``, undo its completed steps first (it is ``running`` until they
    are undone, then ``canceled``)."""
    return _json(operations.cancel_instance(actor(request), instance_id, reason, compensate), 201)


@router.post(
    "/instances/{instance_id}/retry",
    response={201: WorkflowInstanceDTO, **_CHANGE, 422: ErrorDTO},
    tags=[INSTANCES],
)
def retry_instance(
    request: HttpRequest,
    instance_id: UUID,
    from_step: str | None = Query(None, max_length=255),
) -> Any:
    """Run a failed instance again from its failed step, or from ``from_step``."""
    return _json(operations.retry_instance(actor(request), instance_id, from_step), 201)


@router.post(
    "/instances/{instance_id}/suspend",
    response={200: WorkflowInstanceDTO, **_CHANGE},
    tags=[INSTANCES],
)
def suspend_instance(request: HttpRequest, instance_id: UUID, data: SuspendDTO) -> Any:
    """(added) Hold a running or waiting instance with a ``reason``: nothing of it runs,
    its tasks are on hold, webhook callbacks are kept for the resume (409 in any other
    status). Needs the ``suspend_workflowinstance`` permission."""
    return _json(operations.suspend_instance(actor(request), instance_id, data))


@router.post(
    "/instances/{instance_id}/resume",
    response={200: WorkflowInstanceDTO, **_CHANGE},
    tags=[INSTANCES],
)
def resume_instance(request: HttpRequest, instance_id: UUID) -> Any:
    """(added) Resume a suspended instance: its tasks are pending again, kept webhook
    callbacks are applied in arrival order, and it runs on (409 if it is not suspended).
    Needs the ``suspend_workflowinstance`` permission."""
    return _json(operations.resume_instance(actor(request), instance_id))


@router.post(
    "/instances/{instance_id}/withdraw",
    response={201: WorkflowInstanceDTO, **_CHANGE},
    tags=[INSTANCES],
)
def withdraw_instance(request: HttpRequest, instance_id: UUID) -> Any:
    """(added) Cancel an instance you started, while nobody has worked on it: 409 once a
    task of it is completed or claimed, 403 for anyone but the user who started it."""
    return _json(operations.withdraw_instance(actor(request), instance_id), 201)


# -- tasks --------------------------------------------------------------------------------


@router.get(
    "/tasks",
    response={200: list[HumanTaskDTO], **_READ, 403: ErrorDTO},
    tags=[TASKS],
    openapi_extra=_TOTAL,
)
def list_tasks(request: HttpRequest, filters: Query[TaskFilters]) -> Any:
    """The caller's inbox, earliest due first; with ``count=true`` the total is in
    ``X-Total-Count``."""
    return _json(operations.list_tasks(actor(request), filters))


@router.get("/tasks/{task_id}", response={200: HumanTaskDTO, **_READ}, tags=[TASKS])
def get_task(request: HttpRequest, task_id: UUID) -> Any:
    """One task the caller may see."""
    return _json(operations.get_task(actor(request), task_id))


@router.post(
    "/tasks/{task_id}/complete",
    response={201: WorkflowInstanceDTO, **_CHANGE},
    tags=[TASKS],
)
def complete_task(request: HttpRequest, task_id: UUID, data: CompleteTaskDTO) -> Any:
    """Complete a task with data valid for its ``form_schema``; the workflow runs on, and the
    answer is its instance as it then stands. 409 when the task is no longer pending."""
    return _json(operations.complete_task(actor(request), task_id, data), 201)


@router.post("/tasks/{task_id}/claim", response={201: HumanTaskDTO, **_CHANGE}, tags=[TASKS])
def claim_task(request: HttpRequest, task_id: UUID) -> Any:
    """(added) Take an unassigned task of one of your groups: it becomes yours."""
    return _json(operations.claim_task(actor(request), task_id), 201)


@router.post("/tasks/{task_id}/release", response={201: HumanTaskDTO, **_CHANGE}, tags=[TASKS])
def release_task(request: HttpRequest, task_id: UUID) -> Any:
    """(added) Give a task you claimed back to its group."""
    return _json(operations.release_task(actor(request), task_id), 201)


@router.post("/tasks/{task_id}/reassign", response={201: HumanTaskDTO, **_CHANGE}, tags=[TASKS])
def reassign_task(request: HttpRequest, task_id: UUID, data: ReassignTaskDTO) -> Any:
    """Give a task to another user and/or group; the reason is recorded in its activity."""
    return _json(operations.reassign_task(actor(request), task_id, data), 201)


@router.post("/tasks/{task_id}/delegate", response={201: HumanTaskDTO, **_CHANGE}, tags=[TASKS])
def delegate_task(request: HttpRequest, task_id: UUID, data: DelegateTaskDTO) -> Any:
    """(added) Delegate a task you hold to ``to_user``: they become its assignee and may
    answer a draft (``resolve``); you stay its owner and alone complete it. 403 for a
    task not yours or a user a four-eyes rule excludes, 409 when already delegated."""
    return _json(operations.delegate_task(actor(request), task_id, data), 201)


@router.post("/tasks/{task_id}/resolve", response={201: HumanTaskDTO, **_CHANGE}, tags=[TASKS])
def resolve_task(request: HttpRequest, task_id: UUID, data: ResolveTaskDTO) -> Any:
    """(added) As the delegate, answer a delegated task with a draft: the task goes back to
    its owner with the draft shown. 403 for anyone but the delegate, 409 when the task is
    not delegated (or resolved already)."""
    return _json(operations.resolve_task(actor(request), task_id, data), 201)


@router.post(
    "/tasks/{task_id}/send-back", response={201: WorkflowInstanceDTO, **_CHANGE}, tags=[TASKS]
)
def send_back_task(request: HttpRequest, task_id: UUID, data: SendBackDTO) -> Any:
    """(added) Send a pending task back to an earlier step for rework, with a reason: the
    task is canceled and that step runs again. Whoever may complete the task may send it
    back; 422 for a step it may not go back to, 409 when it is no longer pending."""
    return _json(operations.send_back_task(actor(request), task_id, data), 201)


@router.get(
    "/tasks/{task_id}/comments", response={200: list[TaskCommentDTO], **_READ}, tags=[TASKS]
)
def list_task_comments(request: HttpRequest, task_id: UUID) -> Any:
    """(added) The comments on a task you may see, oldest first."""
    return _json(operations.task_comments(actor(request), task_id))


@router.post("/tasks/{task_id}/comments", response={201: TaskCommentDTO, **_CHANGE}, tags=[TASKS])
def add_task_comment(request: HttpRequest, task_id: UUID, data: CommentDTO) -> Any:
    """(added) Comment on a task you may see (in any status)."""
    return _json(operations.add_task_comment(actor(request), task_id, data), 201)


@router.patch(
    "/tasks/{task_id}/comments/{comment_id}",
    response={200: TaskCommentDTO, **_CHANGE},
    tags=[TASKS],
)
def edit_task_comment(
    request: HttpRequest, task_id: UUID, comment_id: UUID, data: CommentDTO
) -> Any:
    """(added) Change the text of your own comment, within minutes of posting it
    (``WORKFLOWS["COMMENT_EDIT_SECONDS"]``): 403 for another's, 409 once too old."""
    return _json(operations.edit_task_comment(actor(request), task_id, comment_id, data))


# -- messages -----------------------------------------------------------------------------


@router.post(
    "/messages",
    response={200: MessagePublishedDTO, 202: MessagePublishedDTO, **_CHANGE},
    tags=[MESSAGES],
)
def publish_message(request: HttpRequest, data: PublishMessageDTO) -> Any:
    """(added) Publish a message: it goes to the instance of the caller's tenant that has
    waited longest for it (200, ``delivered``), starts a workflow (``started``), is kept
    for its ``ttl`` (202, ``buffered``), or is ``dropped`` or ignored as a ``duplicate``.
    Needs the ``publish_message`` permission."""
    result = operations.publish_message(actor(request), data)
    return _json(result, operations.published_status(result))


# -- webhooks -----------------------------------------------------------------------------


@router.post(
    "/webhooks/{callback_token}",
    response={
        201: WebhookAcceptedDTO,
        400: ErrorDTO,
        404: ErrorDTO,
        409: ErrorDTO,
        413: ErrorDTO,
        422: ErrorDTO,
    },
    tags=[WEBHOOKS],
    auth=None,
)
def webhook_callback(request: HttpRequest, callback_token: str, data: Body[Any]) -> Any:
    """(added) Resume the webhook step waiting for ``callback_token`` with the JSON body.

    The token is the credential: no other authentication. It works once.
    """
    return _json(operations.webhook_callback(callback_token, data), 201)


# -- what no route takes ------------------------------------------------------------------
# Added last, so that they match only where no operation above does: a wrong method on a
# known path (405), any other path under the prefix (404), in the one error shape.

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _refuse_other_methods(on: Router) -> None:
    for path, view in list(on.path_operations.items()):
        allowed = sorted({method for operation in view.operations for method in operation.methods})
        others = [method for method in METHODS if method not in allowed]
        if others:
            on.add_api_operation(
                path, others, _not_allowed(path, allowed), auth=None, include_in_schema=False
            )


def _not_allowed(path: str, allowed: list[str]) -> Any:
    def method_not_allowed(request: HttpRequest, **parameters: str) -> HttpResponse:
        return errors.method_not_allowed(request.method or "", allowed)

    # ninja reads the path's parameters from the view's signature.
    names = re.findall(r"\{(?:\w+:)?(\w+)\}", path)
    method_not_allowed.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str)
            for name in names
        ]
    )
    return method_not_allowed


def unknown_path(request: HttpRequest, rest: str) -> HttpResponse:
    """The 404 of a path no operation serves."""
    return errors.error_response(404, errors.NO_ROUTE, "not_found")


def unknown_root(request: HttpRequest) -> HttpResponse:
    """The 404 of the router's own path, when no operation serves it."""
    return errors.error_response(404, errors.NO_ROUTE, "not_found")


def answer_unknown_paths(on: Router, root: bool = False) -> None:
    """Answer a wrong method on ``on``'s paths (405), and any path under it that no
    operation serves (404; with ``root``, its own path too), in the API's error shape
    (call it after the last route)."""
    _refuse_other_methods(on)
    if root:
        on.add_api_operation("", list(METHODS), unknown_root, auth=None, include_in_schema=False)
    on.add_api_operation(
        "/{path:rest}", list(METHODS), unknown_path, auth=None, include_in_schema=False
    )


answer_unknown_paths(router)
