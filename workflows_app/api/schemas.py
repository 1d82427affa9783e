"""The request and response shapes of the REST API.

Names and fields are litestar-workflows' DTOs (``web/dto.py``); fields marked
"(added)" are additions, never renames. Statuses are lowercase strings. The
Litestar adapter answers with these same models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from workflows_app.core.definition import WorkflowDefinition, condition_label
from workflows_app.core.graph import parse_graph_to_dict
from workflows_app.core.metadata import COMPENSATION
from workflows_app.core.migration import DefinitionDiff
from workflows_app.core.types import PublishOutcome, WorkflowStatus
from workflows_app.core.types import TaskStatus as _TaskStatus
from workflows_app.engine.messages import MAX_TTL, PublishResult
from workflows_app.engine.migrations import MigrationPreview, MigrationResult
from workflows_app.engine.suspension import MAX_REASON
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel
from workflows_app.services import TASK_SCOPES, InstanceSelection, Outcome, is_overdue, sent_back

BULK_LIMIT = 1000
"""The most instances one bulk suspend or resume acts on."""

__all__ = [
    "CompleteTaskDTO",
    "ErrorDTO",
    "FieldErrorDTO",
    "GraphDTO",
    "HumanTaskDTO",
    "InstanceFilters",
    "MessagePublishedDTO",
    "MigrateDTO",
    "MigrationDTO",
    "PublishMessageDTO",
    "ReassignTaskDTO",
    "SendBackDTO",
    "SentBackDTO",
    "StartWorkflowDTO",
    "StepExecutionDTO",
    "TaskFilters",
    "WebhookAcceptedDTO",
    "WorkflowDefinitionDTO",
    "WorkflowInstanceDTO",
    "WorkflowInstanceDetailDTO",
]

# The engine's status enums as Literals of their values: a Literal keeps a query
# parameter's validation errors plain (see TaskFilters.status).
InstanceStatus = Literal[*(status.value for status in WorkflowStatus)]  # type: ignore[valid-type]
TaskStatus = Literal[*(status.value for status in _TaskStatus)]  # type: ignore[valid-type]
TaskScope = Literal[*TASK_SCOPES]  # type: ignore[valid-type]  # the admin inbox's too
TaskOrdering = Literal["due_at", "-priority", "created_at", "-created_at"]
GraphFormat = Literal["mermaid", "json"]
Identifier = Field(max_length=255)


class Schema(BaseModel):
    """Plain pydantic models: the views build them field by field, so ninja's ``Schema``
    (which reads attributes off ORM objects) would only add a second validation pass."""


class _Request(Schema):
    # Unknown fields are mistakes (a misspelt "input_data" would start an empty workflow).
    model_config = ConfigDict(extra="forbid")


class StartWorkflowDTO(_Request):
    definition_name: str = Field(min_length=1, max_length=255)
    input_data: dict[str, Any] | None = None
    correlation_id: str | None = Field(None, max_length=255)
    user_id: str | None = Field(
        None, max_length=255, description="If given, it must be the caller's own user id."
    )
    tenant_id: str | None = Field(
        None,
        max_length=255,
        description="With a tenant resolver: omit it or give the caller's own tenant. "
        "Without one: the instance's tenant.",
    )
    version: str | None = Field(
        None, max_length=50, description="(added) The version to start (default: the latest)."
    )


class CompleteTaskDTO(_Request):
    output_data: dict[str, Any]
    completed_by: str | None = Field(
        None, max_length=255, description="If given, it must be the caller's own user id."
    )
    comment: str | None = Field(
        None, max_length=10_000, description="Recorded in the task's activity."
    )


class ReassignTaskDTO(_Request):
    new_assignee: str | None = Field(
        None, min_length=1, max_length=255, description="The user id the task goes to."
    )
    new_group: str | None = Field(
        None, min_length=1, max_length=255, description="(added) The group the task goes to."
    )
    reason: str | None = Field(None, max_length=10_000)


class CommentDTO(_Request):
    """(added) The text of a task comment, to post or to put in place of your own."""

    text: str = Field(
        description="1 to 5000 characters of text (no NUL characters, no lone surrogates)."
    )


class DelegateTaskDTO(_Request):
    """(added) Delegate a task: the delegate answers a draft, the owner keeps the decision."""

    to_user: str = Field(min_length=1, max_length=255, description="The delegate's user id.")


class ResolveTaskDTO(_Request):
    """(added) The delegate's draft answer to a delegated task, for its owner."""

    data: dict[str, Any] = Field(description="The draft answer (a JSON object).")


class SendBackDTO(_Request):
    """(added) Send a task back to an earlier step for rework."""

    to_step: str = Field(
        min_length=1,
        max_length=255,
        description="An earlier step of the same branch, listed in the step's send_back_to.",
    )
    reason: str = Field(
        min_length=1, max_length=2000, description="Why; shown on the task the step makes."
    )


class MigrateDTO(_Request):
    """(added) Move instances of ``workflow`` from one version to another (a
    :class:`~workflows_app.MigrationPlan`)."""

    workflow: str = Field(min_length=1, max_length=255)
    from_version: str = Field(min_length=1, max_length=50)
    to_version: str = Field(min_length=1, max_length=50)
    mapping: dict[str, str] = Field(
        default_factory=dict,
        description="A step of from_version -> the step of to_version that takes its "
        "branches; a step not named goes to the step of the same name.",
    )
    instances: list[UUID] | None = Field(
        None,
        max_length=10_000,
        description="The instances to move; null: every running, waiting or failed instance "
        "of from_version that the caller may see.",
    )
    dry_run: bool = Field(False, description="Say what would move; write nothing.")


class SuspendDTO(_Request):
    """(added) Why the instance is suspended (recorded with who and when)."""

    reason: str = Field(min_length=1, max_length=MAX_REASON)


class _BulkSelection(_Request):
    ids: list[UUID] | None = Field(
        None, min_length=1, max_length=BULK_LIMIT, description="The instances, by id."
    )
    workflow_name: str | None = Field(None, max_length=255, description="Or by filter.")
    status: InstanceStatus | None = None
    tenant_id: str | None = Field(None, max_length=255)
    created_by: str | None = Field(None, max_length=255)

    def selection(self) -> InstanceSelection:
        """The service's selection (refused when it names neither ids nor a filter, or both)."""
        return InstanceSelection(
            ids=self.ids,
            workflow_name=self.workflow_name,
            status=self.status,
            tenant_id=self.tenant_id,
            created_by=self.created_by,
            limit=BULK_LIMIT,
        )


class BulkSuspendDTO(_BulkSelection):
    """(added) Suspend instances named by ``ids``, or every running or waiting instance
    matching the filters (at most 1,000, oldest first), with one ``reason``."""

    reason: str = Field(min_length=1, max_length=MAX_REASON)


class BulkResumeDTO(_BulkSelection):
    """(added) Resume instances named by ``ids``, or every suspended instance matching the
    filters (at most 1,000, oldest first)."""


class OutcomeDTO(Schema):
    id: str = Field(description="The instance id (as given, when it names no instance).")
    done: bool
    error: str | None = Field(None, description="Why it was refused (null: done).")


class BulkOutcomeDTO(Schema):
    """(added) What a bulk suspend or resume did to each instance; one refused does not stop
    the others."""

    done: int
    refused: int
    outcomes: list[OutcomeDTO]

    @classmethod
    def of(cls, outcomes: list[Outcome]) -> BulkOutcomeDTO:
        return cls(
            done=sum(o.done for o in outcomes),
            refused=sum(not o.done for o in outcomes),
            outcomes=[OutcomeDTO(id=o.instance_id, done=o.done, error=o.error) for o in outcomes],
        )


class PublishMessageDTO(_Request):
    """(added) A message for the instance waiting for it (see docs/messages.rst)."""

    name: str = Field(min_length=1, max_length=255, description="The message's name.")
    correlation_key: StrictStr | StrictInt | StrictBool = Field(
        description="The business key: the waiting instance's correlation value (text, an "
        'integer or a boolean; 1042 and "1042" are the same key).'
    )
    payload: Any = Field(None, description="Any JSON value, stored in the receiving context.")
    message_id: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Another message with this id, while it is remembered, is ignored.",
    )
    ttl: float | None = Field(
        None,
        gt=0,
        le=MAX_TTL.total_seconds(),
        allow_inf_nan=False,
        description="Seconds to keep the message when no instance waits for it (default: drop it).",
    )
    tenant_id: str | None = Field(
        None,
        max_length=255,
        description="With a tenant resolver: omit it or give the caller's own tenant. "
        "Without one: the tenant whose instances receive it.",
    )


MessageOutcome = Literal[*(outcome.value for outcome in PublishOutcome)]  # type: ignore[valid-type]


class TaskCommentDTO(Schema):
    """(added) One comment on a task."""

    id: UUID
    task_id: UUID
    author: str = Field(description="The user id of who wrote it.")
    text: str
    created_at: datetime
    edited_at: datetime | None = Field(
        None, description="When its author last edited it (within minutes of posting it)."
    )

    @classmethod
    def of(cls, row: Any) -> TaskCommentDTO:
        return cls(
            id=row.pk,
            task_id=row.task_id,
            author=row.author,
            text=row.text,
            created_at=row.created_at,
            edited_at=row.edited_at,
        )


class MessagePublishedDTO(Schema):
    """(added) What publishing a message did."""

    outcome: MessageOutcome = Field(
        description="delivered (to instance_id; null for a message without message_id "
        "that a branch took right after it was buffered), started (instance_id), buffered "
        "(until expires_at), duplicate (ignored) or dropped (nobody waited)."
    )
    instance_id: UUID | None = None
    expires_at: datetime | None = None

    @classmethod
    def of(cls, result: PublishResult) -> MessagePublishedDTO:
        return cls(
            outcome=result.outcome.value,
            instance_id=result.instance_id,
            expires_at=result.expires_at,
        )


class Page(Schema):
    limit: int = Field(50, ge=1, le=100, description="At most this many items (1 to 100).")
    # Bounded: a larger offset overflows the databases' integers (a 500 on SQLite).
    offset: int = Field(0, ge=0, le=2**31 - 1, description="Skip this many items.")


class InstanceFilters(Page):
    """The query parameters of ``GET /instances``."""

    workflow_name: str | None = Field(None, max_length=255)
    status: InstanceStatus | None = None
    tenant_id: str | None = Field(None, max_length=255, description="(added)")
    created_by: str | None = Field(None, max_length=255, description="(added)")


class TaskFilters(Page):
    """The query parameters of ``GET /tasks``."""

    assignee_id: str | None = Field(None, max_length=255)
    assignee_group: str | None = Field(None, max_length=255)
    # One Literal, not a union: a union's errors name its branches and ninja's parameter
    # (loc ["query", "filters", "status", "literal[...]"]) instead of ["query", "status"].
    status: Literal[TaskStatus, "any"] = _TaskStatus.PENDING.value
    scope: TaskScope = Field(
        "offered",
        description="(added) offered: assigned to me, or unassigned in my groups or in none; "
        "assigned: assigned to me; groups: unassigned in my groups; all: every task "
        "(needs the view or complete-any permission); delegated: delegated to me and not "
        "resolved yet; substituting: the tasks of the users I substitute for now (offered "
        "includes them).",
    )
    workflow_name: str | None = Field(None, max_length=255, description="(added)")
    instance_id: UUID | None = Field(None, description="(added)")
    overdue: bool | None = Field(None, description="(added) Only (or no) overdue tasks.")
    ordering: TaskOrdering = Field("due_at", description="(added) Earliest due first, by default.")
    count: bool = Field(
        False,
        description="(added) Also count every matching task, into X-Total-Count. Off by "
        "default: counting a large inbox costs more than reading a page of it.",
    )


class EdgeDTO(Schema):
    source: str
    target: str
    condition: str | None = None


class WorkflowDefinitionDTO(Schema):
    name: str
    version: str
    description: str
    steps: list[str]
    edges: list[EdgeDTO]
    initial_step: str
    terminal_steps: list[str]

    @classmethod
    def of(cls, definition: WorkflowDefinition) -> WorkflowDefinitionDTO:
        return cls(
            name=definition.name,
            version=definition.version,
            description=definition.description or "",
            steps=list(definition.steps),
            edges=[
                EdgeDTO(
                    source=edge.get_source_name(),
                    target=edge.get_target_name(),
                    condition=condition_label(edge.condition),
                )
                for edge in definition.edges
            ],
            initial_step=definition.initial_step,
            terminal_steps=sorted(definition.terminal_steps),
        )


class GraphDTO(Schema):
    mermaid_source: str
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]

    @classmethod
    def of(cls, definition: WorkflowDefinition, mermaid_source: str) -> GraphDTO:
        return cls(mermaid_source=mermaid_source, **parse_graph_to_dict(definition))


class StepExecutionDTO(Schema):
    id: UUID
    step_name: str
    status: str
    started_at: datetime
    completed_at: datetime | None = None
    error: str | None = None
    step_type: str = Field(description="(added)")
    attempt: int = Field(description="(added) 1, then 2 and on for retries.")
    input_data: Any = Field(None, description="(added)")
    output_data: Any = Field(None, description="(added)")
    assigned_to: str | None = Field(None, description="(added)")
    completed_by: str | None = Field(None, description="(added)")

    @classmethod
    def of(cls, row: StepExecutionModel) -> StepExecutionDTO:
        return cls(
            id=row.pk,
            step_name=row.step_name,
            status=row.status,
            started_at=row.started_at,
            completed_at=row.completed_at,
            error=row.error,
            step_type=row.step_type,
            attempt=row.attempt,
            input_data=row.input_data,
            output_data=row.output_data,
            assigned_to=row.assigned_to,
            completed_by=row.completed_by,
        )


class TaskRefDTO(Schema):
    id: UUID
    step_name: str
    title: str


class WorkflowInstanceDTO(Schema):
    id: UUID
    definition_name: str
    status: str
    current_step: str | None
    started_at: datetime
    completed_at: datetime | None = None
    created_by: str | None = None
    workflow_version: str = Field(description="(added) The version the instance runs on.")
    tenant_id: str | None = Field(None, description="(added)")
    error: str | None = Field(None, description="(added) Why it failed.")
    parent_id: UUID | None = Field(
        None, description="(added) The instance whose subworkflow step started this one."
    )
    parent_step: str | None = Field(None, description="(added) That subworkflow step's name.")
    compensation: dict[str, Any] | None = Field(
        None,
        description="(added) The undoing of its completed steps after a failure or a cancel "
        "with compensate (status running, completed or failed; cause; the steps undone and "
        "still to undo; the compensations' errors), or null.",
    )
    pending_tasks: list[TaskRefDTO] | None = Field(
        None,
        description="(added) In answers about one instance: its pending tasks that the caller "
        "may see (to complete one right after a start). Null in lists.",
    )

    @classmethod
    def fields_of(
        cls, row: WorkflowInstanceModel, pending: list[HumanTaskModel] | None = None
    ) -> dict[str, Any]:
        return {
            "id": row.pk,
            "definition_name": row.workflow_name,
            "status": row.status,
            "current_step": row.current_step,
            "started_at": row.started_at,
            "completed_at": row.completed_at,
            "created_by": row.created_by,
            "workflow_version": row.workflow_version,
            "tenant_id": row.tenant_id,
            "error": row.error,
            "parent_id": row.parent_id,
            "parent_step": row.parent_step,
            "compensation": row.metadata.get(COMPENSATION)
            if isinstance(row.metadata, dict)
            else None,
            "pending_tasks": None
            if pending is None
            else [
                TaskRefDTO(id=task.pk, step_name=task.step_name, title=task.title)
                for task in pending
            ],
        }

    @classmethod
    def of(
        cls, row: WorkflowInstanceModel, pending: list[HumanTaskModel] | None = None
    ) -> WorkflowInstanceDTO:
        return cls(**cls.fields_of(row, pending))


class ChildInstanceDTO(Schema):
    """(added) An instance that one of the instance's subworkflow steps started."""

    id: UUID
    workflow: str
    status: str
    parent_step: str | None


class WorkflowInstanceDetailDTO(WorkflowInstanceDTO):
    context_data: dict[str, Any]
    metadata: dict[str, Any]
    step_history: list[StepExecutionDTO]
    children: list[ChildInstanceDTO] = Field(
        default_factory=list,
        description="(added) The instances its subworkflow steps started, oldest first.",
    )

    @classmethod
    def of_detail(
        cls,
        row: WorkflowInstanceModel,
        history: list[StepExecutionModel],
        pending: list[HumanTaskModel],
        children: list[WorkflowInstanceModel] | None = None,
    ) -> WorkflowInstanceDetailDTO:
        return cls(
            **cls.fields_of(row, pending),
            context_data=row.context_data,
            metadata=row.metadata,
            step_history=[StepExecutionDTO.of(execution) for execution in history],
            children=[
                ChildInstanceDTO(
                    id=child.pk,
                    workflow=child.workflow_name,
                    status=child.status,
                    parent_step=child.parent_step,
                )
                for child in children or ()
            ],
        )


class SentBackDTO(Schema):
    """(added) How a task came to be: sent back to its step from a later one, for rework."""

    from_step: str | None
    reason: str | None
    by: str | None
    at: datetime | None

    @classmethod
    def of(cls, task: HumanTaskModel | Any) -> SentBackDTO | None:
        """The send back the task was made by, or None."""
        entry = sent_back(task)
        if entry is None:
            return None
        return cls(
            from_step=entry.get("from_step"),
            reason=entry.get("reason"),
            by=entry.get("by"),
            at=entry.get("at"),
        )


class DelegationDTO(Schema):
    """(added) A delegated task: its owner (who alone completes it), its delegate, and
    where it stands (``delegated``: the delegate holds it; ``resolved``: back with the
    owner, with the delegate's draft answer)."""

    owner: str
    delegate: str
    state: Literal["delegated", "resolved"]
    draft: dict[str, Any] | None = Field(None, description="The delegate's draft answer.")
    delegated_by: str | None = None
    delegated_at: datetime | None = None
    resolved_at: datetime | None = None

    @classmethod
    def of(cls, task: HumanTaskModel | Any) -> DelegationDTO | None:
        found = task.delegation
        if not found:
            return None
        fields = ("owner", "delegate", "state", "draft", "delegated_by", "delegated_at")
        return cls(**{key: found.get(key) for key in (*fields, "resolved_at")})


class MultiInstanceDTO(Schema):
    """Where a task of a multi-instance step stands among its siblings."""

    index: int = Field(description="The item's place in the step's list, from 0.")
    total: int = Field(description="How many items (tasks) the step has.")

    @classmethod
    def of(cls, task: HumanTaskModel | Any) -> MultiInstanceDTO | None:
        if task.multi_index is None or task.multi_total is None:
            return None
        return cls(index=task.multi_index, total=task.multi_total)


class HumanTaskDTO(Schema):
    id: UUID
    instance_id: UUID
    step_name: str
    title: str
    description: str | None
    assignee: str | None
    status: str
    due_date: datetime | None
    created_at: datetime
    form_schema: dict[str, Any] | None = None
    assignee_group: str | None = Field(None, description="(added)")
    priority: int = Field(0, description="(added) Higher first.")
    tenant_id: str | None = Field(None, description="(added)")
    reminder_at: datetime | None = Field(None, description="(added)")
    completed_at: datetime | None = Field(None, description="(added)")
    completed_by: str | None = Field(None, description="(added)")
    completed_on_behalf_of: str | None = Field(
        None,
        description="(added) The user the completer stood in for (a substitution), if any.",
    )
    is_overdue: bool = Field(False, description="(added) Pending and past its due date.")
    activity: list[dict[str, Any]] = Field(
        default_factory=list,
        description="(added) Claims, releases, reassignments (with their reason) and the "
        "completion comment, oldest first.",
    )
    sent_back: SentBackDTO | None = Field(
        None,
        description="(added) For a task made because a later step sent its instance back for "
        "rework: from which step, why, by whom and when.",
    )
    multi: MultiInstanceDTO | None = Field(
        None,
        description="(added) For a task of a multi-instance step (one task per item): its "
        "item's index and the number of items; the answers so far are in the instance's "
        "context under '<step>_results'.",
    )

    delegation: DelegationDTO | None = Field(
        None,
        description="(added) For a delegated task: owner, delegate, state and the delegate's "
        "draft answer. Only the owner completes it.",
    )

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "id",
        "instance_id",
        "step_name",
        "title",
        "description",
        "assignee_id",
        "status",
        "due_at",
        "created_at",
        "form_schema",
        "assignee_group",
        "priority",
        "tenant_id",
        "reminder_at",
        "completed_at",
        "completed_by",
        "completed_on_behalf_of",
        "activity",
        "multi_index",
        "multi_total",
        "delegation",
    )
    """The task fields :meth:`of` reads: a list reads these columns only."""

    @classmethod
    def of(cls, task: HumanTaskModel | Any, now: datetime | None = None) -> HumanTaskDTO:
        """The DTO of a task, or of a row holding the :attr:`COLUMNS` as attributes."""
        return cls(
            id=task.id,
            instance_id=task.instance_id,
            step_name=task.step_name,
            title=task.title,
            description=task.description,
            assignee=task.assignee_id,
            status=task.status,
            due_date=task.due_at,
            created_at=task.created_at,
            form_schema=task.form_schema,
            assignee_group=task.assignee_group,
            priority=task.priority,
            tenant_id=task.tenant_id,
            reminder_at=task.reminder_at,
            completed_at=task.completed_at,
            completed_by=task.completed_by,
            completed_on_behalf_of=task.completed_on_behalf_of,
            is_overdue=is_overdue(task, now),
            activity=task.activity,
            sent_back=SentBackDTO.of(task),
            multi=MultiInstanceDTO.of(task),
            delegation=DelegationDTO.of(task),
        )


class WebhookAcceptedDTO(Schema):
    instance_id: UUID
    status: str


class MigrationDiffDTO(Schema):
    """How to_version differs from from_version, seen through the mapping (steps named as in
    to_version; a pair is ``[old, new]``, ``[step, what changed]`` or an edge)."""

    steps_added: list[str]
    steps_removed: list[str]
    steps_renamed: list[tuple[str, str]]
    steps_changed: list[tuple[str, str]]
    edges_added: list[tuple[str, str]]
    edges_removed: list[tuple[str, str]]

    @classmethod
    def of(cls, diff: DefinitionDiff) -> MigrationDiffDTO:
        return cls(**diff.to_dict())


class InstanceCheckDTO(Schema):
    id: UUID
    movable: bool
    reason: str | None = Field(None, description="Why it cannot move (null: it can).")


class SkippedDTO(Schema):
    id: UUID
    reason: str


class FailedDTO(Schema):
    id: UUID
    error: str


class MigrationDTO(Schema):
    """(added) The answer to ``POST /instances/migrate``, the same shape for a dry run and
    a move: a dry run fills ``instances`` (and may list ``problems``); a move fills
    ``moved``, ``skipped`` and ``failed``."""

    dry_run: bool
    diff: MigrationDiffDTO
    problems: list[str] = Field(
        description="What is wrong with the plan (dry run only: a move with problems is a 422)."
    )
    instances: list[InstanceCheckDTO] = Field(
        description="Dry run: each selected instance, and whether it can move."
    )
    moved: list[UUID] = Field(description="The instances moved (empty on a dry run).")
    skipped: list[SkippedDTO] = Field(description="The instances not moved, and why.")
    failed: list[FailedDTO] = Field(description="The instances whose move failed, and the error.")

    @classmethod
    def of_preview(cls, preview: MigrationPreview) -> MigrationDTO:
        return cls(
            dry_run=True,
            diff=MigrationDiffDTO.of(preview.diff),
            problems=preview.problems,
            instances=[
                InstanceCheckDTO(id=check.instance_id, movable=check.movable, reason=check.reason)
                for check in preview.instances
            ],
            moved=[],
            skipped=[],
            failed=[],
        )

    @classmethod
    def of_result(cls, diff: DefinitionDiff, result: MigrationResult) -> MigrationDTO:
        return cls(
            dry_run=False,
            diff=MigrationDiffDTO.of(diff),
            problems=[],
            instances=[],
            moved=result.moved,
            skipped=[SkippedDTO(id=pk, reason=reason) for pk, reason in result.skipped],
            failed=[FailedDTO(id=pk, error=error) for pk, error in result.failed],
        )


class FieldErrorDTO(Schema):
    loc: list[str | int] = Field(
        description='Where the problem is, such as ["body", "output_data", "amount"].'
    )
    msg: str
    type: str


class ErrorDTO(Schema):
    """The body of every error answer of the API."""

    status_code: int
    detail: str = Field(description="What was wrong, for people.")
    code: str = Field(description="What was wrong, for programs: not_found, conflict, ...")
    errors: list[FieldErrorDTO] = Field(
        default_factory=list, description="One entry per invalid field (400 and 422)."
    )
