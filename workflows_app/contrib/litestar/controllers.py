"""The REST API's Litestar routes: HTTP in, an operation, JSON out.

The routes, their parameters and their answers are the django-ninja API's
(:mod:`workflows_app.api.routes`). Litestar parses each route's path ids, query and body
with the same pydantic models (:mod:`~workflows_app.contrib.litestar.inputs`) and
documents them; the handler calls the same function of :mod:`workflows_app.api.operations`
in the request's Django thread and writes what
:func:`~workflows_app.api.operations.render` makes of its result. Whatever a route
refuses is answered in the API's error shape by one exception handler
(:func:`~workflows_app.contrib.litestar.refusals.api_error`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Controller, Request, Response, Router, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, Field

from workflows_app.api import operations
from workflows_app.api.schemas import (
    BulkOutcomeDTO,
    BulkResumeDTO,
    BulkSuspendDTO,
    CommentDTO,
    CompleteTaskDTO,
    DelegateTaskDTO,
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
from workflows_app.contrib.litestar.gate import AUTHENTICATE, PUBLIC, SERVICE, ApiGate
from workflows_app.contrib.litestar.inputs import (
    ApiRequest,
    PathUUID,
    query_dependency,
    type_decoders,
)
from workflows_app.contrib.litestar.refusals import api_error
from workflows_app.contrib.litestar.runtime import run_in_django
from workflows_app.core.exceptions import WorkflowsError
from workflows_app.services import Actor, WorkflowService

__all__ = ["build_routers"]

DEFINITIONS = "Workflow Definitions"
INSTANCES = "Workflow Instances"
TASKS = "Human Tasks"
WEBHOOKS = "Webhooks"
MESSAGES = "Messages"

Req = Request[Any, Any, Any]

TOTAL = [
    ResponseHeader(
        name=operations.TOTAL_HEADER,
        description=operations.TOTAL_HEADER_DESCRIPTION,
        value=0,  # (Litestar documents the value's type: an integer)
        documentation_only=True,
    )
]
"""The header of the lists' answers, for the OpenAPI schema (:func:`answer` sets it)."""


async def answer(
    request: Req,
    operation: Callable[..., Any],
    *args: Any,
    status: int | Callable[[Any], int] = 200,
) -> Response[Any]:
    """``operation(actor, *args)`` in the request's Django thread, on the plugin's service
    (without an actor on a public route), answered as the ninja face answers it (with
    ``status``, or the status that ``status(result)`` says)."""
    service = request.route_handler.opt[SERVICE]
    public = request.route_handler.opt.get(PUBLIC, False)

    def in_django() -> Any:
        with operations.serving(service):
            if public:
                return operation(*args)
            return operation(Actor.for_request(request, request.user), *args)

    result = await run_in_django(in_django)
    code = status(result) if callable(status) else status
    content, headers = operations.render(result)
    return Response(content, status_code=code, media_type="application/json", headers=headers)


# -- query parameters of the routes that take a few (ninja's are the views' arguments) ------


class DefinitionsQuery(BaseModel):
    active_only: bool = True


class VersionQuery(BaseModel):
    version: str | None = None


class GraphQuery(BaseModel):
    graph_format: GraphFormat = "mermaid"
    version: str | None = None


class CancelQuery(BaseModel):
    reason: str = Field("User canceled", max_length=10_000)
    compensate: bool = False


class RetryQuery(BaseModel):
    from_step: str | None = Field(None, max_length=255)


def _query(model: type[BaseModel]) -> dict[str, Any]:
    """The dependencies of a route whose query is ``model``'s fields: ``filters``."""
    return {"filters": query_dependency(model)}


# -- routes ---------------------------------------------------------------------------------


class DefinitionController(Controller):
    path = "/definitions"
    tags = [DEFINITIONS]

    @get("/", dependencies=_query(DefinitionsQuery))
    async def list_definitions(
        self, request: Req, filters: NamedDependency[DefinitionsQuery]
    ) -> Response[list[WorkflowDefinitionDTO]]:
        """The latest version of each workflow (``active_only=false``: every version)."""
        return await answer(request, operations.list_definitions, filters.active_only)

    @get("/{name:str}", dependencies=_query(VersionQuery))
    async def get_definition(
        self, request: Req, name: FromPath[str], filters: NamedDependency[VersionQuery]
    ) -> Response[WorkflowDefinitionDTO]:
        """One workflow definition, at ``version`` or its latest."""
        return await answer(request, operations.get_definition, name, filters.version)

    @get("/{name:str}/graph", dependencies=_query(GraphQuery))
    async def get_definition_graph(
        self, request: Req, name: FromPath[str], filters: NamedDependency[GraphQuery]
    ) -> Response[GraphDTO]:
        """The definition's graph: Mermaid source and nodes/edges (``json``: nodes and edges
        only)."""
        return await answer(
            request, operations.definition_graph, name, filters.graph_format, filters.version
        )


class InstanceController(Controller):
    path = "/instances"
    tags = [INSTANCES]

    @post("/", status_code=201)
    async def start_workflow(
        self, request: Req, data: JSONBody[StartWorkflowDTO]
    ) -> Response[WorkflowInstanceDTO]:
        """Start an instance; it runs until it waits, completes or fails."""
        return await answer(request, operations.start_workflow, data, status=201)

    @get("/", dependencies=_query(InstanceFilters), response_headers=TOTAL)
    async def list_instances(
        self, request: Req, filters: NamedDependency[InstanceFilters]
    ) -> Response[list[WorkflowInstanceDTO]]:
        """The instances the caller may see, newest first; the total is in ``X-Total-Count``."""
        return await answer(request, operations.list_instances, filters)

    @post("/migrate", status_code=200)
    async def migrate_instances(
        self, request: Req, data: JSONBody[MigrateDTO]
    ) -> Response[MigrationDTO]:
        """(added) Move instances to another version of their workflow (``dry_run``: say
        which could move; write nothing). A plan with problems moves nothing (422)."""
        return await answer(request, operations.migrate_instances, data)

    @post("/suspend", status_code=200)
    async def suspend_instances(
        self, request: Req, data: JSONBody[BulkSuspendDTO]
    ) -> Response[BulkOutcomeDTO]:
        """(added) Suspend instances by ``ids`` or by filter (the running and waiting ones),
        each on its own: the answer says, per instance, whether it was suspended or why
        not."""
        return await answer(request, operations.suspend_instances, data)

    @post("/resume", status_code=200)
    async def resume_instances(
        self, request: Req, data: JSONBody[BulkResumeDTO]
    ) -> Response[BulkOutcomeDTO]:
        """(added) Resume instances by ``ids`` or by filter (the suspended ones), each on
        its own."""
        return await answer(request, operations.resume_instances, data)

    @get("/{instance_id:str}")
    async def get_instance(
        self, request: Req, instance_id: PathUUID
    ) -> Response[WorkflowInstanceDetailDTO]:
        """An instance with its context data and its step history."""
        return await answer(request, operations.get_instance, instance_id)

    @get("/{instance_id:str}/graph")
    async def get_instance_graph(self, request: Req, instance_id: PathUUID) -> Response[GraphDTO]:
        """The graph of the instance's version, its completed, failed and current steps
        coloured."""
        return await answer(request, operations.instance_graph, instance_id)

    @get("/{instance_id:str}/steps")
    async def list_step_executions(
        self, request: Req, instance_id: PathUUID
    ) -> Response[list[StepExecutionDTO]]:
        """(added) The instance's step executions, in the order they started."""
        return await answer(request, operations.step_executions, instance_id)

    @post("/{instance_id:str}/cancel", status_code=201, dependencies=_query(CancelQuery))
    async def cancel_instance(
        self, request: Req, instance_id: PathUUID, filters: NamedDependency[CancelQuery]
    ) -> Response[WorkflowInstanceDTO]:
        """Cancel a running or waiting instance, and its pending tasks; with
        ``compensate=true``, undo its completed steps first."""
        return await answer(
            request,
            operations.cancel_instance,
            instance_id,
            filters.reason,
            filters.compensate,
            status=201,
        )

    @post("/{instance_id:str}/suspend", status_code=200)
    async def suspend_instance(
        self, request: Req, instance_id: PathUUID, data: JSONBody[SuspendDTO]
    ) -> Response[WorkflowInstanceDTO]:
        """(added) Hold a running or waiting instance with a ``reason`` (409 in any other
        status)."""
        return await answer(request, operations.suspend_instance, instance_id, data)

    @post("/{instance_id:str}/resume", status_code=200)
    async def resume_instance(
        self, request: Req, instance_id: PathUUID
    ) -> Response[WorkflowInstanceDTO]:
        """(added) Resume a suspended instance (409 if it is not suspended)."""
        return await answer(request, operations.resume_instance, instance_id)

    @post("/{instance_id:str}/retry", status_code=201, dependencies=_query(RetryQuery))
    async def retry_instance(
        self, request: Req, instance_id: PathUUID, filters: NamedDependency[RetryQuery]
    ) -> Response[WorkflowInstanceDTO]:
        """Run a failed instance again from its failed step, or from ``from_step``."""
        return await answer(
            request, operations.retry_instance, instance_id, filters.from_step, status=201
        )

    @post("/{instance_id:str}/withdraw", status_code=201)
    async def withdraw_instance(
        self, request: Req, instance_id: PathUUID
    ) -> Response[WorkflowInstanceDTO]:
        """(added) Cancel an instance you started, while nobody has worked on it."""
        return await answer(request, operations.withdraw_instance, instance_id, status=201)


class TaskController(Controller):
    path = "/tasks"
    tags = [TASKS]

    @get("/", dependencies=_query(TaskFilters), response_headers=TOTAL)
    async def list_tasks(
        self, request: Req, filters: NamedDependency[TaskFilters]
    ) -> Response[list[HumanTaskDTO]]:
        """The caller's inbox, earliest due first; with ``count=true`` the total is in
        ``X-Total-Count``."""
        return await answer(request, operations.list_tasks, filters)

    @get("/{task_id:str}")
    async def get_task(self, request: Req, task_id: PathUUID) -> Response[HumanTaskDTO]:
        """One task the caller may see."""
        return await answer(request, operations.get_task, task_id)

    @post("/{task_id:str}/complete", status_code=201)
    async def complete_task(
        self, request: Req, task_id: PathUUID, data: JSONBody[CompleteTaskDTO]
    ) -> Response[WorkflowInstanceDTO]:
        """Complete a task with data valid for its ``form_schema``; the answer is its
        instance as it then stands."""
        return await answer(request, operations.complete_task, task_id, data, status=201)

    @post("/{task_id:str}/claim", status_code=201)
    async def claim_task(self, request: Req, task_id: PathUUID) -> Response[HumanTaskDTO]:
        """(added) Take an unassigned task of one of your groups: it becomes yours."""
        return await answer(request, operations.claim_task, task_id, status=201)

    @post("/{task_id:str}/release", status_code=201)
    async def release_task(self, request: Req, task_id: PathUUID) -> Response[HumanTaskDTO]:
        """(added) Give a task you claimed back to its group."""
        return await answer(request, operations.release_task, task_id, status=201)

    @post("/{task_id:str}/reassign", status_code=201)
    async def reassign_task(
        self, request: Req, task_id: PathUUID, data: JSONBody[ReassignTaskDTO]
    ) -> Response[HumanTaskDTO]:
        """Give a task to another user and/or group; the reason is recorded."""
        return await answer(request, operations.reassign_task, task_id, data, status=201)

    @post("/{task_id:str}/delegate", status_code=201)
    async def delegate_task(
        self, request: Req, task_id: PathUUID, data: JSONBody[DelegateTaskDTO]
    ) -> Response[HumanTaskDTO]:
        """(added) Delegate a task you hold: the delegate answers a draft, you complete."""
        return await answer(request, operations.delegate_task, task_id, data, status=201)

    @post("/{task_id:str}/resolve", status_code=201)
    async def resolve_task(
        self, request: Req, task_id: PathUUID, data: JSONBody[ResolveTaskDTO]
    ) -> Response[HumanTaskDTO]:
        """(added) As the delegate, answer a delegated task with a draft for its owner."""
        return await answer(request, operations.resolve_task, task_id, data, status=201)

    @post("/{task_id:str}/send-back", status_code=201)
    async def send_back_task(
        self, request: Req, task_id: PathUUID, data: JSONBody[SendBackDTO]
    ) -> Response[WorkflowInstanceDTO]:
        """(added) Send a pending task back to an earlier step for rework, with a reason."""
        return await answer(request, operations.send_back_task, task_id, data, status=201)

    @get("/{task_id:str}/comments")
    async def list_task_comments(
        self, request: Req, task_id: PathUUID
    ) -> Response[list[TaskCommentDTO]]:
        """(added) The comments on a task you may see, oldest first."""
        return await answer(request, operations.task_comments, task_id)

    @post("/{task_id:str}/comments", status_code=201)
    async def add_task_comment(
        self, request: Req, task_id: PathUUID, data: JSONBody[CommentDTO]
    ) -> Response[TaskCommentDTO]:
        """(added) Comment on a task you may see (in any status)."""
        return await answer(request, operations.add_task_comment, task_id, data, status=201)

    @patch("/{task_id:str}/comments/{comment_id:str}", status_code=200)
    async def edit_task_comment(
        self, request: Req, task_id: PathUUID, comment_id: PathUUID, data: JSONBody[CommentDTO]
    ) -> Response[TaskCommentDTO]:
        """(added) Change the text of your own comment, within minutes of posting it."""
        return await answer(request, operations.edit_task_comment, task_id, comment_id, data)


@post(
    "/messages",
    status_code=200,
    tags=[MESSAGES],
    responses={202: ResponseSpec(MessagePublishedDTO, description="Buffered for its ttl")},
)
async def publish_message(
    request: Req, data: JSONBody[PublishMessageDTO]
) -> Response[MessagePublishedDTO]:
    """(added) Publish a message: it goes to the instance of the caller's tenant that has
    waited longest for it (200, ``delivered``), starts a workflow (``started``), is kept
    for its ``ttl`` (202, ``buffered``), or is ``dropped`` or ignored as a ``duplicate``.
    Needs the ``publish_message`` permission."""
    return await answer(
        request, operations.publish_message, data, status=operations.published_status
    )


@post("/webhooks/{callback_token:str}", status_code=201, tags=[WEBHOOKS], opt={PUBLIC: True})
async def webhook_callback(
    request: Req, callback_token: FromPath[str], data: JSONBody[Any]
) -> Response[WebhookAcceptedDTO]:
    """(added) Resume the webhook step waiting for ``callback_token`` with the JSON body.
    The token is the credential: no other authentication."""
    return await answer(request, operations.webhook_callback, callback_token, data, status=201)


def build_routers(
    *,
    path: str,
    service: WorkflowService,
    authenticate: Callable[[Any], Any],
    guards: list[Any],
    tags: list[str],
    include_in_schema: bool,
) -> list[Router]:
    """The API's routes under ``path``, on ``service``: the authenticated ones behind
    ``guards``, and the webhook callback, whose token is its only credential."""
    common: dict[str, Any] = {
        "path": path,
        "tags": tags,
        "include_in_schema": include_in_schema,
        "middleware": [ApiGate],
        "request_class": ApiRequest,
        "type_decoders": type_decoders,
        "exception_handlers": {HTTPException: api_error, WorkflowsError: api_error},
        "opt": {SERVICE: service, AUTHENTICATE: authenticate},
    }
    return [
        Router(
            route_handlers=[
                DefinitionController,
                InstanceController,
                TaskController,
                publish_message,
            ],
            guards=guards,
            **common,
        ),
        Router(route_handlers=[webhook_callback], **common),
    ]
