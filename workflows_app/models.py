"""The four tables of the seed's persistence guide, as Django models.

Table and column names are the seed's; index names too, shortened to Django's
30-character limit where the seed's are longer. Columns added for this app's own
needs are marked "(added)" and documented in docs/persistence.rst.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from django.db import models

from workflows_app import managers
from workflows_app.core.types import MessageStatus, StepStatus, TaskStatus, WorkflowStatus

__all__ = [
    "HumanTaskModel",
    "MessageModel",
    "MessageSubscriptionModel",
    "StepExecutionModel",
    "TaskCommentModel",
    "WorkflowDefinitionModel",
    "WorkflowInstanceModel",
]


def _status_choices(statuses: type[StrEnum]) -> list[tuple[str, str]]:
    """The choices of a status field: the enum's values (stored and sent as they are),
    labelled for people: ``("on_hold", "On hold")``."""
    return [(status.value, status.value.replace("_", " ").capitalize()) for status in statuses]


class TimestampedModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class WorkflowDefinitionModel(TimestampedModel):
    """One version of a workflow definition, synced from the registry."""

    name = models.CharField(max_length=255)
    version = models.CharField(max_length=50)
    description = models.TextField(null=True, blank=True)
    definition_json = models.JSONField(default=dict)
    is_active = models.BooleanField(default=True)

    objects = managers.WorkflowDefinitionQuerySet.as_manager()

    class Meta:
        db_table = "workflow_definitions"
        verbose_name = "workflow definition"
        constraints = [
            models.UniqueConstraint(
                fields=["name", "version"], name="ix_workflow_definitions_name_version"
            ),
        ]
        indexes = [
            models.Index(fields=["name"], name="ix_workflow_definitions_name"),
            models.Index(fields=["name", "is_active"], name="ix_wf_definitions_name_active"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class WorkflowInstanceModel(TimestampedModel):
    """One run of a workflow, pinned to the definition version it started on."""

    definition = models.ForeignKey(
        WorkflowDefinitionModel, on_delete=models.CASCADE, related_name="instances"
    )
    workflow_name = models.CharField(max_length=255)
    workflow_version = models.CharField(max_length=50)
    status = models.CharField(
        max_length=50,
        choices=_status_choices(WorkflowStatus),
        default=WorkflowStatus.PENDING.value,
    )
    current_step = models.CharField(max_length=255, null=True, blank=True)
    context_data = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    error = models.TextField(null=True, blank=True)
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    tenant_id = models.CharField(max_length=255, null=True, blank=True)
    created_by = models.CharField(max_length=255, null=True, blank=True)
    # (added) The live branches: [{"id", "step", "state"}], see engine/semantics.py.
    tokens = models.JSONField(default=list)
    # (added) Who last completed a task of this instance (the context's user_id).
    last_user_id = models.CharField(max_length=255, null=True, blank=True)
    # (added) Incremented by every committed transition: the engine's optimistic check.
    lock_version = models.PositiveBigIntegerField(default=0)
    # (added) The drive (an inline call or a worker) that runs this instance's steps, and
    # until when its lease holds; a lapsed lease is taken over by a worker.
    lease_owner = models.CharField(max_length=64, null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # (added) How many drives in a row ended without committing (their lease lapsed and
    # was taken over); when it reaches WORKFLOWS["MAX_DRIVE_ATTEMPTS"] the instance fails.
    failed_drives = models.PositiveIntegerField(default=0)
    # (added) When a worker should look at the instance: now when a step is ready to run,
    # later for a timer or a retry, null when it waits for people or has finished.
    wake_at = models.DateTimeField(null=True, blank=True)
    # (added) The instance whose SubworkflowStep ``parent_step`` started this one (a
    # child), see engine/subworkflows.py; null for an instance started otherwise.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    parent_step = models.CharField(max_length=255, null=True, blank=True)

    objects = managers.WorkflowInstanceQuerySet.as_manager()

    class Meta:
        db_table = "workflow_instances"
        verbose_name = "workflow instance"
        indexes = [
            models.Index(fields=["status"], name="ix_workflow_instances_status"),
            models.Index(fields=["workflow_name"], name="ix_wf_instances_workflow_name"),
            models.Index(fields=["tenant_id"], name="ix_wf_instances_tenant_id"),
            models.Index(fields=["created_by"], name="ix_wf_instances_created_by"),
            models.Index(fields=["wake_at"], name="ix_wf_instances_wake_at"),
        ]
        # (added) Checked by the REST API and the admin, beside Django's view permission.
        permissions = [
            ("start_workflow", "Can start workflows"),
            ("cancel_workflow", "Can cancel workflows"),
            ("retry_workflow", "Can retry failed workflows"),
            ("migrate_workflowinstance", "Can move running workflows to another version"),
            ("suspend_workflowinstance", "Can suspend and resume workflows"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_name} {self.id} ({self.status})"

    @property
    def metadata_(self) -> dict:
        """The instance metadata (the seed's attribute name)."""
        return self.metadata


class StepExecutionModel(TimestampedModel):
    """One execution of one step of an instance: the audit trail."""

    instance = models.ForeignKey(
        WorkflowInstanceModel,
        on_delete=models.CASCADE,
        related_name="step_executions",
        db_index=False,  # indexed below, under the seed's name
    )
    step_name = models.CharField(max_length=255)
    step_type = models.CharField(max_length=50)
    status = models.CharField(
        max_length=50, choices=_status_choices(StepStatus), default=StepStatus.PENDING.value
    )
    input_data = models.JSONField(null=True, blank=True)
    output_data = models.JSONField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.CharField(max_length=255, null=True, blank=True)
    completed_by = models.CharField(max_length=255, null=True, blank=True)
    # (added) The branch (token id) this execution belongs to.
    token_id = models.CharField(max_length=32, null=True, blank=True)
    # (added) Which attempt of the step this was (retries count from 2).
    attempt = models.PositiveIntegerField(default=1)
    # (added) The unguessable token a waiting webhook step is resumed with.
    callback_token = models.CharField(max_length=64, null=True, blank=True, unique=True)

    objects = managers.StepExecutionQuerySet.as_manager()

    class Meta:
        db_table = "workflow_step_executions"
        verbose_name = "step execution"
        ordering = ["started_at", "created_at"]
        indexes = [
            models.Index(fields=["instance"], name="ix_step_executions_instance_id"),
            models.Index(fields=["step_name"], name="ix_step_executions_step_name"),
            models.Index(fields=["status"], name="ix_step_executions_status"),
        ]

    def __str__(self) -> str:
        return f"{self.step_name} ({self.status})"


class HumanTaskModel(TimestampedModel):
    """A task for a person: created when an instance reaches a human step."""

    instance = models.ForeignKey(
        WorkflowInstanceModel, on_delete=models.CASCADE, related_name="human_tasks"
    )
    step_execution = models.ForeignKey(
        StepExecutionModel, on_delete=models.CASCADE, related_name="human_tasks"
    )
    step_name = models.CharField(max_length=255)
    title = models.CharField(max_length=500)
    description = models.TextField(null=True, blank=True)
    form_schema = models.JSONField(null=True, blank=True)
    assignee_id = models.CharField(max_length=255, null=True, blank=True)
    assignee_group = models.CharField(max_length=255, null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    reminder_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=50, choices=_status_choices(TaskStatus), default=TaskStatus.PENDING.value
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.CharField(max_length=255, null=True, blank=True)
    # (added) The instance's tenant, so that inbox queries need no join.
    tenant_id = models.CharField(max_length=255, null=True, blank=True)
    # (added) Higher first in inboxes.
    priority = models.IntegerField(default=0)
    # (added) When the reminder was sent, and when the task was found overdue: each once.
    reminded_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)
    # (added) What people did to the task, oldest first: claims, releases and reassignments
    # (who, when, from whom to whom, why), and the comment given on completion.
    activity = models.JSONField(default=list)
    # (added) For a task of a multi-instance step: its item's place in the list (from 0)
    # and the number of items; None for the one task of a plain human step.
    multi_index = models.PositiveIntegerField(null=True, blank=True)
    multi_total = models.PositiveIntegerField(null=True, blank=True)
    # (added) Four-eyes: the users the task's step excludes (its starter, the completers of
    # the steps it names), decided when the task is created; the text form of
    # workflows_app.core.four_eyes.encode, so that the inbox filter is one column condition.
    excluded_users = models.TextField(default="", blank=True)
    # (added) Delegation (workflows_app.core.delegation): the owner of a delegated task,
    # who alone completes it (None for a task never delegated), and the delegation's state:
    # owner, delegate, state (delegated/resolved), the delegate's draft answer, times.
    owner_id = models.CharField(max_length=255, null=True, blank=True)
    delegation = models.JSONField(null=True, blank=True)
    # (added) Substitution: the user the completer stood in for (completed_by is the
    # substitute who did it), None when they completed it as themselves.
    completed_on_behalf_of = models.CharField(max_length=255, null=True, blank=True)

    objects = managers.HumanTaskQuerySet.as_manager()

    class Meta:
        db_table = "workflow_human_tasks"
        verbose_name = "human task"
        indexes = [
            models.Index(fields=["assignee_id"], name="ix_human_tasks_assignee_id"),
            models.Index(fields=["assignee_group"], name="ix_human_tasks_assignee_group"),
            models.Index(fields=["status"], name="ix_human_tasks_status"),
            models.Index(fields=["due_at"], name="ix_human_tasks_due_at"),
            models.Index(fields=["tenant_id"], name="ix_human_tasks_tenant_id"),
            models.Index(fields=["reminder_at"], name="ix_human_tasks_reminder_at"),
            # (added) The inbox (find_pending) reads pending tasks only: partial indexes keep
            # it fast however many completed tasks accumulate (PostgreSQL and SQLite).
            models.Index(
                fields=["assignee_group", "due_at"],
                condition=models.Q(status=TaskStatus.PENDING.value),
                name="ix_human_tasks_pending_group",
            ),
            models.Index(
                fields=["assignee_id", "due_at"],
                condition=models.Q(status=TaskStatus.PENDING.value),
                name="ix_human_tasks_pending_user",
            ),
        ]
        # (added) Checked by the REST API and the admin: act on tasks not offered to you.
        permissions = [
            ("complete_any_task", "Can complete, claim and release any task"),
            ("reassign_any_task", "Can reassign any task"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"


class TaskCommentModel(models.Model):
    """(added) One comment on a human task: who wrote what, when; editable by its author for
    a few minutes (``WORKFLOWS["COMMENT_EDIT_SECONDS"]``), each edit keeping the text it
    replaced in ``edits``. See :mod:`workflows_app.core.comments`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(HumanTaskModel, on_delete=models.CASCADE, related_name="comments")
    # The task's instance and tenant, so that an instance's thread needs no join.
    instance = models.ForeignKey(
        WorkflowInstanceModel, on_delete=models.CASCADE, related_name="task_comments"
    )
    tenant_id = models.CharField(max_length=255, null=True, blank=True)
    author = models.CharField(max_length=255)
    text = models.TextField()
    created_at = models.DateTimeField()
    edited_at = models.DateTimeField(null=True, blank=True)
    # The texts an edit replaced, oldest first: [{"text": ..., "until": iso time}].
    edits = models.JSONField(default=list)

    class Meta:
        db_table = "workflow_task_comments"
        verbose_name = "task comment"
        indexes = [
            models.Index(fields=["task", "created_at"], name="ix_task_comments_task"),
            models.Index(fields=["instance", "created_at"], name="ix_task_comments_instance"),
        ]

    def __str__(self) -> str:
        return f"{self.author}: {self.text[:50]}"


class Substitution(models.Model):
    """(added) While ``user`` is away (from ``starts_at`` until ``ends_at``), ``substitute``
    also gets their tasks (of the ``workflows`` listed, or of all). At most one per user at
    any moment. See :mod:`workflows_app.core.substitution`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.CharField(max_length=255, help_text="The user id of who is away.")
    substitute = models.CharField(max_length=255, help_text="The user id of who stands in.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # The workflow names covered, in the text form of core.substitution.encode (empty: all).
    workflows = models.TextField(default="", blank=True)
    created_by = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "workflow_substitutions"
        verbose_name = "substitution"
        indexes = [
            models.Index(fields=["substitute", "ends_at"], name="ix_substitutions_substitute"),
            models.Index(fields=["user", "starts_at"], name="ix_substitutions_user"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="ck_substitutions_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(user=models.F("substitute")),
                name="ck_substitutions_not_self",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.substitute} for {self.user}"


class MessageSubscriptionModel(models.Model):
    """(added) A branch waiting at a message step: for the message ``message_name`` whose
    correlation key is ``correlation_value`` (read from the context when the branch
    reached the step). Deleted when the message is delivered or the instance canceled."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    instance = models.ForeignKey(
        WorkflowInstanceModel, on_delete=models.CASCADE, related_name="message_subscriptions"
    )
    # The waiting execution (one subscription each); its step name may change when the
    # instance is moved to another version, the execution stays.
    step_execution = models.OneToOneField(
        StepExecutionModel, on_delete=models.CASCADE, related_name="message_subscription"
    )
    step_name = models.CharField(max_length=255)
    token_id = models.CharField(max_length=32)
    message_name = models.CharField(max_length=255)
    correlation_value = models.CharField(max_length=255)
    tenant_id = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "workflow_message_subscriptions"
        verbose_name = "message subscription"
        ordering = ["created_at"]
        indexes = [
            # Who receives a message: the longest waiting for (tenant, name, value).
            models.Index(
                fields=["message_name", "correlation_value", "tenant_id", "created_at"],
                name="ix_wf_msg_subs_lookup",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_name} = {self.correlation_value} ({self.step_name})"


class MessageModel(models.Model):
    """(added) A published message that was kept: buffered (no instance waited, and it has
    a ttl) or delivered and remembered for its ``message_id`` (duplicates are ignored)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    correlation_value = models.CharField(max_length=255)
    tenant_id = models.CharField(max_length=255, null=True, blank=True)
    message_id = models.CharField(max_length=255, null=True, blank=True)
    # A digest of tenant, name and message_id: unique, so that two publishes of one
    # message_id cannot both be kept (null without a message_id).
    dedup_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    payload = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=_status_choices(MessageStatus))
    created_at = models.DateTimeField()
    # Until when it is buffered, or its message_id remembered (null: until pruned).
    expires_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    instance = models.ForeignKey(
        WorkflowInstanceModel,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
    )
    # A drive that is taking this buffered message, and until when (see engine/messages.py).
    reserved_by = models.CharField(max_length=64, null=True, blank=True)
    reserved_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "workflow_messages"
        verbose_name = "message"
        ordering = ["created_at"]
        indexes = [
            # (MariaDB indexes at most 3,072 bytes: three 255-character columns.)
            models.Index(
                fields=["name", "correlation_value", "tenant_id"], name="ix_wf_messages_lookup"
            ),
            models.Index(fields=["expires_at"], name="ix_wf_messages_expires_at"),
        ]
        # Checked by the REST API and the management command's callers.
        permissions = [("publish_message", "Can publish messages to workflows")]

    def __str__(self) -> str:
        return f"{self.name} = {self.correlation_value} ({self.status})"
