"""What each REST route does, whatever the web framework: parsed arguments in, DTOs out.

The django-ninja routes (:mod:`workflows_app.api.routes`) and the Litestar controllers
(:mod:`workflows_app.contrib.litestar`) parse HTTP, take the request's
:class:`~workflows_app.services.Actor` (:meth:`~workflows_app.services.Actor.for_request`),
call one function here, and write what :func:`render` makes of its result; errors are the
library's exceptions, which each face maps with :mod:`workflows_app.api.errors`. The rules
themselves live in the service.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple

from django.utils import timezone
from pydantic import BaseModel, TypeAdapter

from workflows_app.api.schemas import (
    BulkOutcomeDTO,
    BulkResumeDTO,
    BulkSuspendDTO,
    CommentDTO,
    CompleteTaskDTO,
    DelegateTaskDTO,
    GraphDTO,
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
from workflows_app.core.migration import MigrationPlan
from workflows_app.core.types import PublishOutcome
from workflows_app.services import Actor, TaskFilter, WorkflowService, get_service

TOTAL_HEADER = "X-Total-Count"
"""The header of a list's answer that holds its total (over every page)."""

TOTAL_HEADER_DESCRIPTION = "How many items match, over every page."


class Page(NamedTuple):
    """A page of a list, and the list's total (None: not counted)."""

    items: list[Any]
    total: int | None


def render(result: BaseModel | list[BaseModel] | Page) -> tuple[bytes, dict[str, str]]:
    """The JSON body of an operation's result and the headers that go with it (a page's
    total, when counted). The DTOs were built and validated field by field: pydantic
    serialises them in one pass, without validating them again."""
    headers = {}
    if isinstance(result, Page):
        if result.total is not None:
            headers[TOTAL_HEADER] = str(result.total)
        result = result.items
    if isinstance(result, BaseModel):
        return _adapter(type(result)).dump_json(result), headers
    item_type = type(result[0]) if result else BaseModel
    return _adapter(list[item_type]).dump_json(result), headers  # type: ignore[valid-type]


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(of: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(of)
    if adapter is None:
        adapter = _ADAPTERS[of] = TypeAdapter(of)
    return adapter


# -- definitions --------------------------------------------------------------------------


def list_definitions(actor: Actor, active_only: bool = True) -> list[WorkflowDefinitionDTO]:
    definitions = _service().list_definitions(actor, active_only)
    return [WorkflowDefinitionDTO.of(definition) for definition in definitions]


def get_definition(actor: Actor, name: str, version: str | None) -> WorkflowDefinitionDTO:
    return WorkflowDefinitionDTO.of(_service().get_definition(actor, name, version))


def definition_graph(actor: Actor, name: str, graph_format: str, version: str | None) -> GraphDTO:
    definition = _service().get_definition(actor, name, version)
    return GraphDTO.of(definition, definition.to_mermaid() if graph_format == "mermaid" else "")


# -- instances ----------------------------------------------------------------------------


def start_workflow(actor: Actor, data: StartWorkflowDTO) -> WorkflowInstanceDTO:
    row = _service().start(
        actor,
        data.definition_name,
        data.input_data,
        version=data.version,
        correlation_id=data.correlation_id,
        tenant_id=data.tenant_id,
        user_id=data.user_id,
    )
    return _instance(actor, row)


def list_instances(actor: Actor, filters: InstanceFilters) -> Page:
    rows, total = _service().list_instances(
        actor,
        workflow_name=filters.workflow_name,
        status=filters.status,
        tenant_id=filters.tenant_id,
        created_by=filters.created_by,
        limit=filters.limit,
        offset=filters.offset,
    )
    return Page([WorkflowInstanceDTO.of(row) for row in rows], total)


def get_instance(actor: Actor, instance_id: Any) -> WorkflowInstanceDetailDTO:
    service = _service()
    row, history, pending = service.instance_detail(actor, instance_id)
    children = service.child_instances(actor, row)
    return WorkflowInstanceDetailDTO.of_detail(row, history, pending, children)


def instance_graph(actor: Actor, instance_id: Any) -> GraphDTO:
    _row, definition, mermaid = _service().instance_mermaid(actor, instance_id)
    return GraphDTO.of(definition, mermaid)


def step_executions(actor: Actor, instance_id: Any) -> list[StepExecutionDTO]:
    executions = _service().step_executions(actor, instance_id)
    return [StepExecutionDTO.of(execution) for execution in executions]


def cancel_instance(
    actor: Actor, instance_id: Any, reason: str, compensate: bool = False
) -> WorkflowInstanceDTO:
    return _instance(actor, _service().cancel(actor, instance_id, reason, compensate))


def retry_instance(actor: Actor, instance_id: Any, from_step: str | None) -> WorkflowInstanceDTO:
    return _instance(actor, _service().retry(actor, instance_id, from_step))


def suspend_instance(actor: Actor, instance_id: Any, data: SuspendDTO) -> WorkflowInstanceDTO:
    return _instance(actor, _service().suspend(actor, instance_id, data.reason))


def resume_instance(actor: Actor, instance_id: Any) -> WorkflowInstanceDTO:
    return _instance(actor, _service().resume(actor, instance_id))


def suspend_instances(actor: Actor, data: BulkSuspendDTO) -> BulkOutcomeDTO:
    return BulkOutcomeDTO.of(_service().suspend_many(actor, data.reason, data.selection()))


def resume_instances(actor: Actor, data: BulkResumeDTO) -> BulkOutcomeDTO:
    return BulkOutcomeDTO.of(_service().resume_many(actor, data.selection()))


def withdraw_instance(actor: Actor, instance_id: Any) -> WorkflowInstanceDTO:
    return _instance(actor, _service().withdraw(actor, instance_id))


def migrate_instances(actor: Actor, data: MigrateDTO) -> MigrationDTO:
    """Preview or apply the plan; a move's answer also carries the diff (read by a preview
    of no instance, which writes nothing)."""
    plan = MigrationPlan(data.workflow, data.from_version, data.to_version, data.mapping)
    service = _service()
    if data.dry_run:
        return MigrationDTO.of_preview(service.migrate(actor, plan, data.instances, dry_run=True))
    checked = service.migrate(actor, plan, [], dry_run=True)
    return MigrationDTO.of_result(checked.diff, service.migrate(actor, plan, data.instances))


# -- tasks --------------------------------------------------------------------------------


def list_tasks(actor: Actor, filters: TaskFilters) -> Page:
    """The inbox page, and its total when ``filters.count`` asks for it."""
    query = TaskFilter(
        scope=filters.scope,
        status=None if filters.status == "any" else filters.status,
        assignee_id=filters.assignee_id,
        assignee_group=filters.assignee_group,
        workflow_name=filters.workflow_name,
        instance_id=filters.instance_id,
        overdue=filters.overdue,
        ordering=filters.ordering,
    )
    tasks, total = _service().inbox(
        actor,
        query,
        limit=filters.limit,
        offset=filters.offset,
        count=filters.count,
        columns=HumanTaskDTO.COLUMNS,
    )
    now = timezone.now()
    return Page([HumanTaskDTO.of(task, now) for task in tasks], total)


def get_task(actor: Actor, task_id: Any) -> HumanTaskDTO:
    return HumanTaskDTO.of(_service().get_task(actor, task_id))


def complete_task(actor: Actor, task_id: Any, data: CompleteTaskDTO) -> WorkflowInstanceDTO:
    row = _service().complete_task(
        actor, task_id, data.output_data, completed_by=data.completed_by, comment=data.comment
    )
    return _instance(actor, row)


def claim_task(actor: Actor, task_id: Any) -> HumanTaskDTO:
    return HumanTaskDTO.of(_service().claim_task(actor, task_id))


def release_task(actor: Actor, task_id: Any) -> HumanTaskDTO:
    return HumanTaskDTO.of(_service().release_task(actor, task_id))


def reassign_task(actor: Actor, task_id: Any, data: ReassignTaskDTO) -> HumanTaskDTO:
    task = _service().reassign_task(
        actor,
        task_id,
        new_assignee=data.new_assignee,
        new_group=data.new_group,
        reason=data.reason,
    )
    return HumanTaskDTO.of(task)


def delegate_task(actor: Actor, task_id: Any, data: DelegateTaskDTO) -> HumanTaskDTO:
    return HumanTaskDTO.of(_service().delegate_task(actor, task_id, data.to_user))


def resolve_task(actor: Actor, task_id: Any, data: ResolveTaskDTO) -> HumanTaskDTO:
    return HumanTaskDTO.of(_service().resolve_task(actor, task_id, data.data))


def send_back_task(actor: Actor, task_id: Any, data: SendBackDTO) -> WorkflowInstanceDTO:
    row = _service().send_back_task(actor, task_id, data.to_step, data.reason)
    return _instance(actor, row)


def task_comments(actor: Actor, task_id: Any) -> list[TaskCommentDTO]:
    return [TaskCommentDTO.of(row) for row in _service().task_comments(actor, task_id)]


def add_task_comment(actor: Actor, task_id: Any, data: CommentDTO) -> TaskCommentDTO:
    return TaskCommentDTO.of(_service().add_task_comment(actor, task_id, data.text))


def edit_task_comment(
    actor: Actor, task_id: Any, comment_id: Any, data: CommentDTO
) -> TaskCommentDTO:
    row = _service().edit_task_comment(actor, task_id, comment_id, data.text)
    return TaskCommentDTO.of(row)


# -- messages -----------------------------------------------------------------------------


def publish_message(actor: Actor, data: PublishMessageDTO) -> MessagePublishedDTO:
    result = _service().publish_message(
        actor,
        data.name,
        data.correlation_key,
        data.payload,
        message_id=data.message_id,
        ttl=data.ttl,
        tenant_id=data.tenant_id,
    )
    return MessagePublishedDTO.of(result)


def published_status(result: MessagePublishedDTO) -> int:
    """The HTTP status of a publish's answer: 202 for a buffered message, 200 otherwise."""
    return 202 if result.outcome == PublishOutcome.BUFFERED else 200


# -- webhooks -----------------------------------------------------------------------------


def webhook_callback(callback_token: str, payload: Any) -> WebhookAcceptedDTO:
    row = _service().complete_webhook(callback_token, payload)
    return WebhookAcceptedDTO(instance_id=row.pk, status=row.status)


def _instance(actor: Actor, row: Any) -> WorkflowInstanceDTO:
    """One instance, with the pending tasks the actor may see."""
    return WorkflowInstanceDTO.of(row, _service().pending_tasks(actor, row.pk, row.status))


_SERVICE: ContextVar[WorkflowService | None] = ContextVar("workflows_service", default=None)


@contextmanager
def serving(service: WorkflowService) -> Iterator[None]:
    """Run the operations of the block on ``service`` (another engine or registry than the
    default one: a Litestar application's plugin configures its own)."""
    token = _SERVICE.set(service)
    try:
        yield
    finally:
        _SERVICE.reset(token)


def _service() -> WorkflowService:
    return _SERVICE.get() or get_service()
