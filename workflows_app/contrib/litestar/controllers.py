"""The REST API's Litestar routes: HTTP in, an operation, JSON out.

The routes, their parameters and their answers are the django-ninja API's
(:mod:`workflows_app.api.routes`): each handler parses its input with the same pydantic
models, calls the same function of :mod:`workflows_app.api.operations` in the request's
Django thread, and writes the same DTOs or error bodies (:mod:`workflows_app.api.errors`).
Litestar does no parsing of its own here, so that validation errors, their order and
their locations are the ninja face's to the letter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings
from litestar import Controller, Request, Response, Router, get, post
from litestar.exceptions import HTTPException
from litestar.openapi.spec import Operation
from pydantic import BaseModel, Field, TypeAdapter
from pydantic import ValidationError as PydanticError

from workflows_app.api import errors, operations
from workflows_app.api.schemas import (
    CompleteTaskDTO,
    GraphDTO,
    GraphFormat,
    HumanTaskDTO,
    InstanceFilters,
    ReassignTaskDTO,
    StartWorkflowDTO,
    StepExecutionDTO,
    TaskFilters,
    WebhookAcceptedDTO,
    WorkflowDefinitionDTO,
    WorkflowInstanceDetailDTO,
    WorkflowInstanceDTO,
)
from workflows_app.contrib.litestar.gate import (
    AUTHENTICATE,
    PUBLIC,
    SERVICE,
    ApiGate,
    query_lists,
)
from workflows_app.contrib.litestar.runtime import run_in_django
from workflows_app.core.exceptions import WorkflowsError
from workflows_app.services import Actor, WorkflowService

__all__ = ["build_routers"]

DEFINITIONS = "Workflow Definitions"
INSTANCES = "Workflow Instances"
TASKS = "Human Tasks"
WEBHOOKS = "Webhooks"

TOTAL_HEADER = "X-Total-Count"

# -- input, as ninja parses it ---------------------------------------------------------------


class Refused(Exception):
    """Input the API does not accept: ``answer`` is what to send."""

    def __init__(self, answer: errors.Answer) -> None:
        super().__init__(answer[1]["detail"])
        self.answer = answer


ANY_JSON = object()
"""``body=ANY_JSON``: any JSON value (the webhook's payload)."""

_UUID = TypeAdapter(UUID)


@dataclass
class Inputs:
    ids: list[UUID] = field(default_factory=list)
    query: Any = None
    body: Any = None


def _errors(exc: PydanticError, *prefix: str | int) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False)
    ]


async def parse(
    request: Request[Any, Any, Any],
    *,
    ids: dict[str, str] | None = None,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | object | None = None,
) -> Inputs:
    """Validate the path ids (UUIDs), the query and the JSON body; raise :class:`Refused`
    with every problem at once, as ninja does (bad ids alone: 404; else 422; a body that
    is not JSON: 400)."""
    found = Inputs()
    problems: list[dict[str, Any]] = []
    for name, raw in (ids or {}).items():
        try:
            found.ids.append(_UUID.validate_python(raw))
        except PydanticError as exc:
            problems += _errors(exc, "path", name)
    if query is not None:
        # For each key, its last value (Django's QueryDict); unknown keys are ignored.
        values = {key: values[-1] for key, values in query_lists(request.scope)}
        try:
            found.query = query.model_validate(values)
        except PydanticError as exc:
            problems += _errors(exc, "query")
    if body is not None:
        raw_body = await request.body()
        data: Any = None
        if raw_body:
            try:
                data = json.loads(raw_body)
            except ValueError as exc:
                detail = f"{errors.MALFORMED} ({exc})" if settings.DEBUG else errors.MALFORMED
                raise Refused((400, errors.error_body(400, detail, "malformed"))) from None
        try:
            if raw_body and body is ANY_JSON:
                found.body = data
            elif raw_body:
                found.body = body.model_validate(data)  # type: ignore[union-attr]
            else:
                problems.append({"loc": ["body"], "msg": "Field required", "type": "missing"})
        except PydanticError as exc:
            problems += _errors(exc, "body")
    if problems:
        raise Refused(errors.invalid_request(problems))
    return found


# -- output ----------------------------------------------------------------------------------

_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _encode(value: BaseModel | list[BaseModel]) -> bytes:
    if isinstance(value, BaseModel):
        return value.model_dump_json().encode()
    item_type = type(value[0]) if value else BaseModel
    adapter = _ADAPTERS.get(item_type)
    if adapter is None:
        adapter = _ADAPTERS[item_type] = TypeAdapter(list[item_type])  # type: ignore[valid-type]
    return adapter.dump_json(value)


def _json(content: bytes, status: int, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content=content, status_code=status, media_type="application/json", headers=headers
    )


def _error(answer: errors.Answer, headers: dict[str, str] | None = None) -> Response[Any]:
    status, body = answer
    return _json(json.dumps(body).encode(), status, headers)


async def answer(
    request: Request[Any, Any, Any],
    call: Callable[[Actor | None], Any],
    *,
    status: int = 200,
    public: bool = False,
) -> Response[Any]:
    """Run ``call(actor)`` in the request's Django thread, on the plugin's service, and
    answer its DTOs; ``call`` may return ``(DTOs, total)`` for a list with its total."""
    service = request.route_handler.opt[SERVICE]

    def in_django() -> Any:
        actor = None if public else Actor.for_user(request.user, request)
        with operations.serving(service):
            return call(actor)

    try:
        result = await run_in_django(in_django)
    except WorkflowsError as exc:
        found = errors.library_answer(exc)
        if found is None:
            raise  # an engine failure, not the caller's: a 500
        return _error(found)
    headers = None
    if isinstance(result, tuple):
        result, total = result
        if total is not None:
            headers = {TOTAL_HEADER: str(total)}
    return _json(_encode(result), status, headers)


async def serve(
    request: Request[Any, Any, Any],
    operation: Callable[..., Any],
    *,
    ids: dict[str, str] | None = None,
    query: type[BaseModel] | None = None,
    unpack: bool = False,
    body: type[BaseModel] | object | None = None,
    status: int = 200,
) -> Response[Any]:
    """Parse, then ``operation(actor, *ids, query, body)`` (the query's fields as keywords
    with ``unpack``)."""
    try:
        inputs = await parse(request, ids=ids, query=query, body=body)
    except Refused as refused:
        return _error(refused.answer)
    args: list[Any] = [*inputs.ids]
    kwargs: dict[str, Any] = {}
    if query is not None:
        if unpack:
            kwargs = dict(inputs.query)
        else:
            args.append(inputs.query)
    if body is not None:
        args.append(inputs.body)
    return await answer(request, lambda actor: operation(actor, *args, **kwargs), status=status)


# -- query parameters of the routes that take a few ----------------------------------------


class _DefinitionsQuery(BaseModel):
    active_only: bool = True


class _VersionQuery(BaseModel):
    version: str | None = None


class _GraphQuery(BaseModel):
    graph_format: GraphFormat = "mermaid"
    version: str | None = None


class _CancelQuery(BaseModel):
    reason: str = Field("User canceled", max_length=10_000)


class _RetryQuery(BaseModel):
    from_step: str | None = Field(None, max_length=255)


# -- what the OpenAPI schema says of the input ---------------------------------------------


def documented(
    query: type[BaseModel] | None = None, body: type[BaseModel] | object | None = None
) -> type[Operation]:
    """An OpenAPI operation that lists ``query``'s fields as query parameters and ``body``
    as the JSON request body: the handlers parse both themselves, so Litestar cannot see
    them. The schemas are pydantic's, as in the ninja face's schema."""
    parameters = []
    if query is not None:
        schema = _inline_schema(query)
        required = set(schema.get("required", ()))
        for name, field_schema in schema["properties"].items():
            parameter = {"name": name, "in": "query", "required": name in required}
            if "description" in field_schema:
                parameter["description"] = field_schema["description"]
            parameters.append({**parameter, "schema": field_schema})
    request_body = None
    if body is not None:
        body_schema = {} if body is ANY_JSON else _inline_schema(body)  # type: ignore[arg-type]
        request_body = {"required": True, "content": {"application/json": {"schema": body_schema}}}

    class DocumentedOperation(Operation):
        def to_schema(self) -> dict[str, Any]:
            schema = super().to_schema()
            if parameters:
                schema["parameters"] = [*schema.get("parameters", []), *parameters]
            if request_body is not None:
                schema["requestBody"] = request_body
            return schema

    return DocumentedOperation


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema, which must stand alone (no definitions to refer to)."""
    schema = model.model_json_schema()
    if "$defs" in schema:
        raise TypeError(f"{model.__name__} has nested models: its schema cannot be inlined")
    return schema


# -- routes ---------------------------------------------------------------------------------
# Path parameters are read from ``request.path_params`` (as strings), not declared: the
# handlers parse them, like everything else, as the ninja face does.


def _path(request: Request[Any, Any, Any], name: str) -> dict[str, str]:
    return {name: request.path_params[name]}


def _name(request: Request[Any, Any, Any]) -> str:
    return request.path_params["name"]


Req = Request[Any, Any, Any]


class DefinitionController(Controller):
    path = "/definitions"
    tags = [DEFINITIONS]

    @get("/", operation_class=documented(_DefinitionsQuery))
    async def list_definitions(self, request: Req) -> Response[list[WorkflowDefinitionDTO]]:
        """The latest version of each workflow (``active_only=false``: every version)."""
        return await serve(
            request, operations.list_definitions, query=_DefinitionsQuery, unpack=True
        )

    @get("/{name:str}", operation_class=documented(_VersionQuery))
    async def get_definition(self, request: Req) -> Response[WorkflowDefinitionDTO]:
        """One workflow definition, at ``version`` or its latest."""
        return await serve(
            request,
            lambda actor, version: operations.get_definition(actor, _name(request), version),
            query=_VersionQuery,
            unpack=True,
        )

    @get("/{name:str}/graph", operation_class=documented(_GraphQuery))
    async def get_definition_graph(self, request: Req) -> Response[GraphDTO]:
        """The definition's graph: Mermaid source and nodes/edges (``json``: nodes and edges
        only)."""
        return await serve(
            request,
            lambda actor, graph_format, version: operations.definition_graph(
                actor, _name(request), graph_format, version
            ),
            query=_GraphQuery,
            unpack=True,
        )


class InstanceController(Controller):
    path = "/instances"
    tags = [INSTANCES]

    @post("/", status_code=201, operation_class=documented(body=StartWorkflowDTO))
    async def start_workflow(self, request: Req) -> Response[WorkflowInstanceDTO]:
        """Start an instance; it runs until it waits, completes or fails."""
        return await serve(request, operations.start_workflow, body=StartWorkflowDTO, status=201)

    @get("/", operation_class=documented(InstanceFilters))
    async def list_instances(self, request: Req) -> Response[list[WorkflowInstanceDTO]]:
        """The instances the caller may see, newest first; the total is in ``X-Total-Count``."""
        return await serve(request, operations.list_instances, query=InstanceFilters)

    @get("/{instance_id:str}")
    async def get_instance(self, request: Req) -> Response[WorkflowInstanceDetailDTO]:
        """An instance with its context data and its step history."""
        return await serve(request, operations.get_instance, ids=_path(request, "instance_id"))

    @get("/{instance_id:str}/graph")
    async def get_instance_graph(self, request: Req) -> Response[GraphDTO]:
        """The graph of the instance's version, its completed, failed and current steps
        coloured."""
        return await serve(request, operations.instance_graph, ids=_path(request, "instance_id"))

    @get("/{instance_id:str}/steps")
    async def list_step_executions(self, request: Req) -> Response[list[StepExecutionDTO]]:
        """(added) The instance's step executions, in the order they started."""
        return await serve(request, operations.step_executions, ids=_path(request, "instance_id"))

    @post("/{instance_id:str}/cancel", status_code=201, operation_class=documented(_CancelQuery))
    async def cancel_instance(self, request: Req) -> Response[WorkflowInstanceDTO]:
        """Cancel a running or waiting instance, and its pending tasks."""
        return await serve(
            request,
            operations.cancel_instance,
            ids=_path(request, "instance_id"),
            query=_CancelQuery,
            unpack=True,
            status=201,
        )

    @post("/{instance_id:str}/retry", status_code=201, operation_class=documented(_RetryQuery))
    async def retry_instance(self, request: Req) -> Response[WorkflowInstanceDTO]:
        """Run a failed instance again from its failed step, or from ``from_step``."""
        return await serve(
            request,
            operations.retry_instance,
            ids=_path(request, "instance_id"),
            query=_RetryQuery,
            unpack=True,
            status=201,
        )


class TaskController(Controller):
    path = "/tasks"
    tags = [TASKS]

    @get("/", operation_class=documented(TaskFilters))
    async def list_tasks(self, request: Req) -> Response[list[HumanTaskDTO]]:
        """The caller's inbox, earliest due first; with ``count=true`` the total is in
        ``X-Total-Count``."""
        return await serve(request, operations.list_tasks, query=TaskFilters)

    @get("/{task_id:str}")
    async def get_task(self, request: Req) -> Response[HumanTaskDTO]:
        """One task the caller may see."""
        return await serve(request, operations.get_task, ids=_path(request, "task_id"))

    @post(
        "/{task_id:str}/complete", status_code=201, operation_class=documented(body=CompleteTaskDTO)
    )
    async def complete_task(self, request: Req) -> Response[WorkflowInstanceDTO]:
        """Complete a task with data valid for its ``form_schema``; the answer is its
        instance as it then stands."""
        return await serve(
            request,
            operations.complete_task,
            ids=_path(request, "task_id"),
            body=CompleteTaskDTO,
            status=201,
        )

    @post("/{task_id:str}/claim", status_code=201)
    async def claim_task(self, request: Req) -> Response[HumanTaskDTO]:
        """(added) Take an unassigned task of one of your groups: it becomes yours."""
        return await serve(
            request, operations.claim_task, ids=_path(request, "task_id"), status=201
        )

    @post("/{task_id:str}/release", status_code=201)
    async def release_task(self, request: Req) -> Response[HumanTaskDTO]:
        """(added) Give a task you claimed back to its group."""
        return await serve(
            request, operations.release_task, ids=_path(request, "task_id"), status=201
        )

    @post(
        "/{task_id:str}/reassign", status_code=201, operation_class=documented(body=ReassignTaskDTO)
    )
    async def reassign_task(self, request: Req) -> Response[HumanTaskDTO]:
        """Give a task to another user and/or group; the reason is recorded."""
        return await serve(
            request,
            operations.reassign_task,
            ids=_path(request, "task_id"),
            body=ReassignTaskDTO,
            status=201,
        )


@post(
    "/webhooks/{callback_token:str}",
    status_code=201,
    tags=[WEBHOOKS],
    opt={PUBLIC: True},
    operation_class=documented(body=ANY_JSON),
)
async def webhook_callback(request: Req) -> Response[WebhookAcceptedDTO]:
    """(added) Resume the webhook step waiting for ``callback_token`` with the JSON body.
    The token is the credential: no other authentication."""
    try:
        inputs = await parse(request, body=ANY_JSON)
    except Refused as refused:
        return _error(refused.answer)
    return await answer(
        request,
        lambda _actor: operations.webhook_callback(
            request.path_params["callback_token"], inputs.body
        ),
        status=201,
        public=True,
    )


def http_error(request: Req, exc: HTTPException) -> Response[Any]:
    """Litestar's own refusals on these routes (a guard's 401 or 403, a 405), in the API's
    error shape."""
    codes = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 413: "too_large"}
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    detail = exc.detail or "Error"
    return _error(
        (status, errors.error_body(status, detail, codes.get(status, "http_error"))), headers
    )


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
        "exception_handlers": {HTTPException: http_error},
        "opt": {SERVICE: service, AUTHENTICATE: authenticate},
    }
    return [
        Router(
            route_handlers=[DefinitionController, InstanceController, TaskController],
            guards=guards,
            **common,
        ),
        Router(route_handlers=[webhook_callback], **common),
    ]
