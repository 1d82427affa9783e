"""What the REST API, the admin and the Litestar adapter let people do, with its rules.

A face turns its request into an :class:`Actor` (who, in which groups, in which tenant)
and calls a :class:`WorkflowService` method. The service decides what the actor may see
and do, scopes every query to the actor's tenant, and asks the engine for every change;
the faces only translate HTTP. The rules, in one place:

- **Tenancy.** With ``WORKFLOWS["TENANT_RESOLVER"]`` set, an actor sees and changes only
  rows of its tenant; another tenant's ids are "not found".
- **Tasks.** A task is *offered* to a user when it is assigned to them, or unassigned and
  of one of their groups, or of no group at all (:func:`_offered`, the one definition: the
  queries filter by it, and the checks on a loaded task evaluate it in Python). Users see
  the tasks offered to them and
  the ones they completed; ``view_humantaskmodel`` or ``complete_any_task`` shows every
  task. A task assigned to someone is completed (and released) by that person; an
  unassigned one by a member of its group, who may also claim it;
  ``complete_any_task`` overrides both. The assignee reassigns a task, as does a holder
  of ``reassign_any_task``.
- **Instances.** Users see the instances they started or hold a task of;
  ``view_workflowinstancemodel`` shows them all. Starting, cancelling and retrying need
  ``start_workflow``, ``cancel_workflow`` and ``retry_workflow``; suspending and resuming
  (one instance or many) ``suspend_workflowinstance``.
- **Definitions** are code, not tenant data: everyone sees every version. Activating
  and deactivating a version needs ``change_workflowdefinitionmodel``.
- Something the actor may not see is "not found" (never "forbidden"), so ids of other
  people's rows reveal nothing; something it sees but may not do is "forbidden".
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import models, router
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.module_loading import import_string

from workflows_app import conf
from workflows_app.core import comments as comment_rules
from workflows_app.core import four_eyes
from workflows_app.core import send_back as send_back_rules
from workflows_app.core.definition import GraphChild, WorkflowDefinition
from workflows_app.core.exceptions import (
    TaskNotFoundError,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowsError,
    WorkflowValidationError,
)
from workflows_app.core.migration import MigrationPlan
from workflows_app.core.registry import WorkflowRegistry
from workflows_app.core.types import DelegationState, StepStatus, TaskStatus, WorkflowStatus
from workflows_app.engine import comments as comments_engine
from workflows_app.engine import (
    messages,
    migrations,
    statements,
    substitution,
    suspension,
    withdraw,
)
from workflows_app.engine.compiled import CompiledQuery
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import (
    HumanTaskModel,
    MessageModel,
    MessageSubscriptionModel,
    StepExecutionModel,
    Substitution,
    TaskCommentModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)

__all__ = [
    "Actor",
    "InstanceSelection",
    "NotAllowedError",
    "Outcome",
    "TaskFilter",
    "TaskScope",
    "WorkflowService",
    "get_service",
    "sent_back",
]

APP_LABEL = "workflows_app"


class TaskScope(models.TextChoices):
    """Which tasks an inbox lists: the ``scope`` of the API's ``GET /tasks`` and of the
    admin inbox, one list for both. The labels are the admin filter's."""

    OFFERED = "offered", "Mine and my groups'"
    """The default: every task offered to the user (assigned to them, or unassigned in
    one of their groups or in none)."""
    ASSIGNED = "assigned", "Assigned to me"
    """The tasks assigned to the user."""
    GROUPS = "groups", "Unassigned in my groups"
    """The unassigned tasks of the user's groups."""
    ALL = "all", "All tasks"
    """Every task of the tenant: needs ``view_humantaskmodel`` or ``complete_any_task``."""
    DELEGATED = "delegated", "Delegated to me"
    """The tasks delegated to the user that they have not resolved yet (see
    :mod:`workflows_app.core.delegation`)."""
    SUBSTITUTING = "substituting", "Substituting for others"
    """The tasks of the users the user substitutes for now (see
    :mod:`workflows_app.core.substitution`); ``offered`` includes them too."""


TASK_SCOPES = tuple(scope.value for scope in TaskScope)
"""The names of :class:`TaskScope`, the default first."""

TASK_SCOPE_ALIASES = {"visible": TaskScope.ALL}
"""Older names the admin inbox still takes (``?scope=visible`` was its name for ``all``)."""

# Tasks without a due date come last on every database (SQLite and MySQL sort NULL first).
_DUE_AT = F("due_at").asc(nulls_last=True)

TASK_ORDERINGS = {
    "due_at": (_DUE_AT, "created_at"),
    "-priority": ("-priority", _DUE_AT, "created_at"),
    "created_at": ("created_at",),
    "-created_at": ("-created_at",),
}


class NotAllowedError(WorkflowsError, PermissionError):
    """The actor may see this but not do it (HTTP faces answer 403)."""


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who is asking: a user id, its groups, its tenant, and its permissions.

    ``has_perm`` answers for a codename of this app (``"start_workflow"``); it is
    only called when a rule needs it. ``scoped`` says whether rows are filtered by
    ``tenant_id`` (a tenant resolver is configured).
    """

    user_id: str
    groups: frozenset[str] = frozenset()
    tenant_id: str | None = None
    scoped: bool = False
    has_perm: Callable[[str], bool] = dataclasses.field(default=lambda codename: False)

    @classmethod
    def for_user(cls, user: Any, request: Any = None) -> Actor:
        """Return the actor of an authenticated Django ``user`` (one query: its groups)."""
        resolver = tenant_resolver()
        tenant = resolver(request) if resolver is not None else None
        return cls(
            user_id=str(getattr(user, conf.get_settings().USER_ID_FIELD)),
            groups=group_names(user),
            tenant_id=None if tenant is None else str(tenant),  # a column of text
            scoped=resolver is not None,
            has_perm=functools.partial(_django_perm, user),
        )

    @classmethod
    def for_request(cls, request: Any, user: Any) -> Actor:
        """Return the actor of a request whose authenticated user is ``user``, built once
        per request and kept on it (every face, ninja, admin and Litestar, asks here)."""
        found = getattr(request, _REQUEST_ACTOR, None)
        if found is None:
            found = cls.for_user(user, request)
            try:
                setattr(request, _REQUEST_ACTOR, found)
            except AttributeError:
                pass  # a request class with fixed slots: built again if asked again
        return found

    def can(self, codename: str) -> bool:
        return self.has_perm(codename)


_REQUEST_ACTOR = "_workflows_actor"


def group_names(user: Any) -> frozenset[str]:
    """The names of a Django user's groups, read once per user object (tenant resolvers that
    look at groups can call this too, and share the query)."""
    names = getattr(user, _GROUP_NAMES, None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True))
        remember_group_names(user, names)
    return names


def remember_group_names(user: Any, names: Any) -> None:
    """Keep a user's group names on the user object, for :func:`group_names` (authentication
    that reads them along with the user saves a query)."""
    setattr(user, _GROUP_NAMES, frozenset(names))


_GROUP_NAMES = "_workflows_group_names"


def _django_perm(user: Any, codename: str) -> bool:
    return user.has_perm(f"{APP_LABEL}.{codename}")


def tenant_resolver() -> Callable[[Any], str | None] | None:
    """Return the configured tenant resolver (imported from its dotted path), or None."""
    resolver = conf.get_settings().TENANT_RESOLVER
    if isinstance(resolver, str):
        return _import(resolver)
    return resolver


@functools.cache
def _import(path: str) -> Any:
    return import_string(path)


@dataclasses.dataclass(frozen=True)
class InstanceSelection:
    """Which instances a bulk operation acts on: ``ids``, or the instances matching the
    list filters (``workflow_name``, ``status``, ``tenant_id``, ``created_by``), at most
    ``limit`` of them. A selection by filter needs at least one filter."""

    ids: Sequence[Any] | None = None
    workflow_name: str | None = None
    status: str | None = None
    tenant_id: str | None = None
    created_by: str | None = None
    limit: int = 1000

    def __post_init__(self) -> None:
        if self.ids is not None and self.filters():
            raise WorkflowValidationError(["name instances by ids or by filter, not both"])
        if self.ids is None and not self.filters():
            raise WorkflowValidationError(["name instances by ids, or select them by a filter"])
        if self.ids is not None and not self.ids:
            raise WorkflowValidationError(["ids: name at least one instance"])

    def filters(self) -> dict[str, Any]:
        named = {
            "workflow_name": self.workflow_name,
            "status": self.status,
            "tenant_id": self.tenant_id,
            "created_by": self.created_by,
        }
        return {key: value for key, value in named.items() if value is not None}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a bulk operation did to one instance: done, or refused with the reason."""

    instance_id: str
    done: bool
    error: str | None


@dataclasses.dataclass(frozen=True)
class TaskFilter:
    """What an inbox asks for; every field narrows the list."""

    scope: str = TaskScope.OFFERED
    status: str | None = TaskStatus.PENDING  # None: any status
    assignee_id: str | None = None
    assignee_group: str | None = None
    workflow_name: str | None = None
    instance_id: uuid.UUID | None = None
    overdue: bool | None = None
    due_before: datetime | None = None
    due_within: timedelta | None = None  # due from now to now + this (not overdue yet)
    ordering: str = "due_at"


class WorkflowService:
    """The operations of the HTTP faces, on one engine."""

    def __init__(self, engine: PersistentExecutionEngine | None = None) -> None:
        self.engine = engine if engine is not None else PersistentExecutionEngine()

    @property
    def registry(self) -> WorkflowRegistry:
        return self.engine.registry

    # -- definitions (code: the registry; not tenant data) ----------------------------

    def list_definitions(self, actor: Actor, active_only: bool = True) -> list[WorkflowDefinition]:
        """Return the latest version of each workflow (every version with ``active_only=False``)."""
        definitions = self.registry.list_definitions(active_only=active_only)
        return sorted(definitions, key=lambda definition: definition.name)

    def get_definition(
        self, actor: Actor, name: str, version: str | None = None
    ) -> WorkflowDefinition:
        """Return ``name`` at ``version`` (default: the latest)."""
        try:
            return self.registry.get_definition(name, version)
        except WorkflowNotFoundError:
            raise WorkflowNotFoundError(name, version) from None

    def definition_rows(self, actor: Actor) -> QuerySet[WorkflowDefinitionModel]:
        """The stored definition versions (lazy), each annotated with ``live_instances``: how
        many of its instances run or wait (of the actor's tenant when tenancy is on)."""
        live = Q(instances__status__in=_LIVE)
        if actor.scoped:
            live &= Q(instances__tenant_id=actor.tenant_id)
        return WorkflowDefinitionModel.objects.annotate(
            live_instances=Count("instances", filter=live)
        )

    def activate_definition(self, actor: Actor, name: str, version: str) -> None:
        """Let ``name`` at ``version`` start new instances again."""
        self._set_definition_active(actor, name, version, active=True)

    def deactivate_definition(self, actor: Actor, name: str, version: str) -> None:
        """Stop ``name`` at ``version`` from starting new instances; its running ones go on."""
        self._set_definition_active(actor, name, version, active=False)

    def _set_definition_active(self, actor: Actor, name: str, version: str, active: bool) -> None:
        # A definition row is code-owned metadata, not workflow state: the managers change
        # it (the engine reads the flag each time it starts an instance).
        if not actor.can("change_workflowdefinitionmodel"):
            raise NotAllowedError("You may not activate or deactivate workflow versions")
        rows = WorkflowDefinitionModel.objects
        found = (rows.activate_version if active else rows.deactivate_version)(name, version)
        if not found:
            raise WorkflowNotFoundError(name, version)

    # -- instances --------------------------------------------------------------------

    def instances(self, actor: Actor) -> QuerySet[WorkflowInstanceModel]:
        """The instances ``actor`` may see (lazy)."""
        rows = _scoped(WorkflowInstanceModel.objects.all(), actor)
        if actor.can("view_workflowinstancemodel"):
            return rows
        tasks = _scoped(HumanTaskModel.objects.filter(instance_id=OuterRef("pk")), actor)
        has_task = Exists(tasks.filter(_offered(actor) | Q(completed_by=actor.user_id)))
        return rows.filter(Q(created_by=actor.user_id) | has_task)

    def list_instances(
        self,
        actor: Actor,
        *,
        workflow_name: str | None = None,
        status: str | None = None,
        tenant_id: str | None = None,
        created_by: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[WorkflowInstanceModel], int]:
        """Return a page of the instances ``actor`` sees, newest first, and their total."""
        rows = self.instances(actor)
        filters = {
            "workflow_name": workflow_name,
            "status": status,
            "tenant_id": tenant_id,
            "created_by": created_by,
        }
        rows = rows.filter(**{key: value for key, value in filters.items() if value is not None})
        return _page(rows.order_by("-started_at", "-id"), limit, offset)

    def get_instance(self, actor: Actor, instance_id: Any) -> WorkflowInstanceModel:
        """Return an instance ``actor`` sees, or raise WorkflowInstanceNotFoundError."""
        pk = _as_uuid(instance_id)
        row = None if pk is None else self.instances(actor).filter(pk=pk).first()
        if row is None:
            raise WorkflowInstanceNotFoundError(instance_id)
        return row

    def instance_detail(
        self, actor: Actor, instance_id: Any
    ) -> tuple[WorkflowInstanceModel, list[StepExecutionModel], list[HumanTaskModel]]:
        """Return an instance, its step executions, and its pending tasks ``actor`` sees."""
        row = self.get_instance(actor, instance_id)
        history = StepExecutionModel.objects.find_by_instance(row.pk)
        return row, history, self.pending_tasks(actor, row.pk, row.status)

    def child_instances(
        self, actor: Actor, row: WorkflowInstanceModel
    ) -> list[WorkflowInstanceModel]:
        """Return the children (started by its subworkflow steps) of the instance ``row``
        that ``actor`` sees, oldest first."""
        return list(self.instances(actor).filter(parent_id=row.pk).order_by("started_at", "id"))

    def step_executions(self, actor: Actor, instance_id: Any) -> list[StepExecutionModel]:
        """Return an instance's step executions in the order they started."""
        row = self.get_instance(actor, instance_id)
        return StepExecutionModel.objects.find_by_instance(row.pk)

    def instance_mermaid(
        self,
        actor: Actor,
        instance_id: Any,
        child_href: Callable[[WorkflowInstanceModel], str] | None = None,
    ) -> tuple[WorkflowInstanceModel, WorkflowDefinition, str]:
        """Return an instance, its definition, and its Mermaid graph with its state.

        The children (of its subworkflow steps) that ``actor`` sees are nodes hanging from
        their step, labelled with their workflow, id and status: with ``child_href`` (where
        a child's page is) the node links there and shows the id's first eight digits;
        without, it shows the whole id."""
        row = self.get_instance(actor, instance_id)
        definition = self.registry.get_definition(row.workflow_name, row.workflow_version)
        statuses = StepExecutionModel.objects.filter(instance_id=row.pk).values_list(
            "step_name", "status"
        )
        done: dict[str, None] = {}
        failed: dict[str, None] = {}
        for step_name, status in statuses:
            if status == StepStatus.SUCCEEDED:
                done[step_name] = None
            elif status == StepStatus.FAILED:
                failed[step_name] = None
        mermaid = definition.to_mermaid_with_state(
            current_step=row.current_step if row.status in _LIVE else None,
            completed_steps=list(done),
            failed_steps=[name for name in failed if name not in done],
            children=[
                GraphChild(
                    step=child.parent_step or "",
                    label=f"{child.workflow_name} "
                    f"{str(child.pk)[:8] if child_href else child.pk}: {child.status}",
                    href=child_href(child) if child_href else None,
                    tooltip=f"Open the child instance {child.pk}",
                )
                for child in self.child_instances(actor, row)
            ],
        )
        return row, definition, mermaid

    def start(
        self,
        actor: Actor,
        definition_name: str,
        input_data: dict[str, Any] | None = None,
        *,
        version: str | None = None,
        correlation_id: str | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
    ) -> WorkflowInstanceModel:
        """Start ``definition_name`` as ``actor``; return the instance as it stands after.

        ``user_id`` and ``tenant_id`` are upstream's request fields: when given they must
        be the actor's own (with a tenant resolver; without one, ``tenant_id`` names the
        instance's tenant).
        """
        if not actor.can("start_workflow"):
            raise NotAllowedError("You may not start workflows")
        if user_id is not None and user_id != actor.user_id:
            raise NotAllowedError("user_id must be your own user id")
        if actor.scoped:
            if tenant_id is not None and tenant_id != actor.tenant_id:
                raise NotAllowedError("tenant_id must be your own tenant")
            tenant_id = actor.tenant_id
        metadata = {"correlation_id": correlation_id} if correlation_id is not None else None
        state = self.engine.start_workflow_sync(
            definition_name,
            input_data,
            tenant_id=tenant_id,
            created_by=actor.user_id,
            version=version,
            metadata=metadata,
        )
        return self._written_instance(state.id)

    def cancel(
        self, actor: Actor, instance_id: Any, reason: str, compensate: bool = False
    ) -> WorkflowInstanceModel:
        """Cancel a running or waiting instance; with ``compensate``, undo its completed
        steps first (see :mod:`workflows_app.engine.compensation`)."""
        row = self.get_instance(actor, instance_id)
        if not actor.can("cancel_workflow"):
            raise NotAllowedError("You may not cancel workflows")
        if compensate:
            self.engine.cancel_workflow_sync(row.pk, reason, compensate=True)
        else:
            self.engine.cancel_workflow_sync(row.pk, reason)
        return self._written_instance(row.pk)

    def retry(
        self, actor: Actor, instance_id: Any, from_step: str | None = None
    ) -> WorkflowInstanceModel:
        """Run a failed instance again from its failed step (or ``from_step``)."""
        row = self.get_instance(actor, instance_id)
        if not actor.can("retry_workflow"):
            raise NotAllowedError("You may not retry workflows")
        self.engine.retry_sync(row.pk, from_step)
        return self._written_instance(row.pk)

    def migrate(
        self,
        actor: Actor,
        plan: MigrationPlan,
        instances: Any = None,
        *,
        dry_run: bool = False,
    ) -> Any:
        """Preview (``dry_run``) or apply ``plan`` to the selected instances that ``actor``
        may see: within its tenant when rows are scoped (an id of another tenant is
        reported as no such instance). Needs ``migrate_workflowinstance``."""
        if not actor.can("migrate_workflowinstance"):
            raise NotAllowedError("You may not move workflows to another version")
        tenant_id = actor.tenant_id if actor.scoped else migrations.ANY_TENANT
        if dry_run:
            return self.engine.plan_migration_sync(plan, instances, tenant_id=tenant_id)
        return self.engine.migrate_instances_sync(
            plan, instances, tenant_id=tenant_id, by=actor.user_id
        )

    def suspend(self, actor: Actor, instance_id: Any, reason: str) -> WorkflowInstanceModel:
        """Hold a running or waiting instance (needs ``suspend_workflowinstance``)."""
        row = self.get_instance(actor, instance_id)
        if not actor.can("suspend_workflowinstance"):
            raise NotAllowedError("You may not suspend workflows")
        self.engine.suspend_sync(row.pk, reason, by=actor.user_id)
        return self._written_instance(row.pk)

    def resume(self, actor: Actor, instance_id: Any) -> WorkflowInstanceModel:
        """Resume a suspended instance (needs ``suspend_workflowinstance``)."""
        row = self.get_instance(actor, instance_id)
        if not actor.can("suspend_workflowinstance"):
            raise NotAllowedError("You may not resume workflows")
        self.engine.resume_sync(row.pk, by=actor.user_id)
        return self._written_instance(row.pk)

    def suspend_many(
        self, actor: Actor, reason: str, selection: InstanceSelection
    ) -> list[Outcome]:
        """Suspend each selected instance that ``actor`` sees; one refused does not stop
        the others. By filter, only running and waiting instances are selected."""
        if not actor.can("suspend_workflowinstance"):
            raise NotAllowedError("You may not suspend workflows")
        suspension.check_reason(reason)
        return self._each(
            actor,
            selection,
            suspension.SUSPENDABLE,
            lambda pk: self.engine.suspend_sync(pk, reason, by=actor.user_id),
        )

    def resume_many(self, actor: Actor, selection: InstanceSelection) -> list[Outcome]:
        """Resume each selected instance that ``actor`` sees; one refused does not stop
        the others. By filter, only suspended instances are selected."""
        if not actor.can("suspend_workflowinstance"):
            raise NotAllowedError("You may not resume workflows")
        return self._each(
            actor,
            selection,
            (WorkflowStatus.SUSPENDED,),
            lambda pk: self.engine.resume_sync(pk, by=actor.user_id),
        )

    def _each(
        self,
        actor: Actor,
        selection: InstanceSelection,
        statuses: Sequence[WorkflowStatus],
        act: Callable[[uuid.UUID], Any],
    ) -> list[Outcome]:
        """Apply ``act`` to each instance of ``selection`` that ``actor`` sees, oldest
        first; an id it does not see is refused as not found."""
        rows = self.instances(actor)
        outcomes: list[Outcome] = []
        if selection.ids is not None:
            wanted = [(raw, _as_uuid(raw)) for raw in selection.ids]
            seen = set(
                rows.filter(pk__in=[pk for _, pk in wanted if pk]).values_list("pk", flat=True)
            )
            pks = []
            for raw, pk in wanted:
                if pk in seen and pk not in pks:
                    pks.append(pk)
                elif pk not in seen:
                    outcomes.append(Outcome(str(raw), False, f"No workflow instance {raw}"))
        else:
            rows = rows.filter(**selection.filters()).filter(status__in=[str(s) for s in statuses])
            pks = list(
                rows.order_by("started_at", "id").values_list("pk", flat=True)[: selection.limit]
            )
        for pk in pks:
            try:
                act(pk)
            except WorkflowsError as exc:
                outcomes.append(Outcome(str(pk), False, str(exc)))
            else:
                outcomes.append(Outcome(str(pk), True, None))
        return outcomes

    def may_withdraw(self, actor: Actor, row: WorkflowInstanceModel) -> bool:
        """Whether ``actor`` is the user who started the instance ``row`` (only that user
        may withdraw it)."""
        return bool(actor.user_id) and row.created_by == actor.user_id

    def withdrawal_refused(self, actor: Actor, row: WorkflowInstanceModel) -> str | None:
        """Why ``actor`` may not withdraw ``row`` now, or None: whether to offer it."""
        return withdraw.refusal(row, actor.user_id, list(row.human_tasks.all()))

    def withdraw(self, actor: Actor, instance_id: Any) -> WorkflowInstanceModel:
        """Cancel an instance for the user who started it, while nobody has worked on it
        (no task of it completed or claimed); anyone else is refused (403)."""
        row = self.get_instance(actor, instance_id)
        if not self.may_withdraw(actor, row):
            raise NotAllowedError("Only the user who started the workflow may withdraw it")
        self.engine.withdraw_sync(row.pk, actor.user_id)
        return self._written_instance(row.pk)

    # -- messages ---------------------------------------------------------------------

    def publish_message(
        self,
        actor: Actor,
        name: str,
        correlation_key: Any,
        payload: Any = None,
        *,
        message_id: str | None = None,
        ttl: Any = None,
        tenant_id: str | None = None,
    ) -> messages.PublishResult:
        """Publish a message as ``actor`` (see :meth:`PersistentExecutionEngine.
        publish_message_sync`), in its tenant when rows are scoped (``tenant_id``, if
        given, must be its own; without a resolver it names the tenant). Needs
        ``publish_message``."""
        if not actor.can("publish_message"):
            raise NotAllowedError("You may not publish messages")
        if actor.scoped:
            if tenant_id is not None and tenant_id != actor.tenant_id:
                raise NotAllowedError("tenant_id must be your own tenant")
            tenant_id = actor.tenant_id
        return self.engine.publish_message_sync(
            name, correlation_key, payload, message_id=message_id, ttl=ttl, tenant_id=tenant_id
        )

    def message_subscriptions(self, actor: Actor) -> QuerySet[MessageSubscriptionModel]:
        """The branches waiting for messages that ``actor`` may see (lazy): those of the
        instances it sees."""
        rows = _scoped(MessageSubscriptionModel.objects.all(), actor)
        if actor.can("view_workflowinstancemodel"):
            return rows
        return rows.filter(instance__in=self.instances(actor))

    def kept_messages(self, actor: Actor) -> QuerySet[MessageModel]:
        """The buffered and remembered messages ``actor`` may see (lazy): its tenant's,
        with ``publish_message`` or ``view_messagemodel``."""
        rows = _scoped(MessageModel.objects.all(), actor)
        if actor.can("view_messagemodel") or actor.can("publish_message"):
            return rows
        return rows.none()

    def _written_instance(self, instance_id: Any) -> WorkflowInstanceModel:
        """An instance the engine just wrote, read back from the engine's database."""
        [row] = statements.select(self.engine.using, WorkflowInstanceModel, {"id": instance_id})
        return row

    # -- tasks ------------------------------------------------------------------------

    def tasks(self, actor: Actor) -> QuerySet[HumanTaskModel]:
        """The tasks ``actor`` may see (lazy)."""
        rows = _scoped(HumanTaskModel.objects.all(), actor)
        if self.sees_all_tasks(actor):
            return rows
        # The owner of a delegated task still sees it (and alone completes it).
        mine = Q(completed_by=actor.user_id) | Q(owner_id=actor.user_id)
        return rows.filter(_offered(actor) | mine | _substituting(actor))

    def pending_tasks(
        self, actor: Actor, instance_id: Any, status: str | None = None
    ) -> list[HumanTaskModel]:
        """The pending tasks of an instance that ``actor`` may see, oldest first.

        ``status`` is the instance's, when the caller has it: a completed or canceled
        instance has no pending tasks (the engine completes or cancels them first), and
        the database is not asked.
        """
        if status in (WorkflowStatus.COMPLETED, WorkflowStatus.CANCELED):
            return []
        pk = _as_uuid(instance_id)
        if pk is None:
            return []

        columns = ("id", "step_name", "title")
        return self._compiled_tasks(actor, _pending_of_instance, {"instance_id": pk}, columns)

    def _compiled_tasks(
        self,
        actor: Actor,
        narrow: Callable[[QuerySet, Mapping[str, Any]], QuerySet],
        values: dict[str, Any],
        columns: tuple[str, ...] = (),
        *,
        sees_all: bool | None = None,
    ) -> list[HumanTaskModel]:
        """``narrow(self.tasks(actor), values)`` as task objects with ``columns`` (all
        fields by default), its SQL compiled once per shape (:func:`_task_read`).
        ``sees_all`` overrides :meth:`sees_all_tasks` (False: only the tasks offered to
        the actor, or completed by it). ``narrow`` is a module-level function: it is part
        of the shape."""
        columns = columns or _TASK_FIELDS
        if sees_all is None:
            sees_all = self.sees_all_tasks(actor)
        shape = (self, narrow, sees_all, actor.scoped, columns)
        rows = _TASK_READS.run(_task_read, shape, {**_actor_values(actor), **values})
        using = router.db_for_read(HumanTaskModel)
        return [HumanTaskModel.from_db(using, columns, row) for row in rows]

    def sees_all_tasks(self, actor: Actor) -> bool:
        return actor.can("complete_any_task") or actor.can("view_humantaskmodel")

    def inbox(
        self,
        actor: Actor,
        query: TaskFilter,
        *,
        limit: int = 50,
        offset: int = 0,
        count: bool = True,
        columns: Sequence[str] = (),
    ) -> tuple[list[Any], int | None]:
        """Return a page of ``actor``'s inbox and its total (None when not ``count``:
        counting a large inbox costs more than reading a page of it).

        The page holds tasks, or with ``columns`` named tuples of those fields only:
        a list that shows a few fields need not build whole model instances."""
        if columns and _INBOX_VALUES.issuperset(_set_fields(query)):
            self._check_scope(actor, query)
            items = self._compiled_inbox_page(actor, query, tuple(columns), limit, offset)
            if not count:
                return items, None
            return _with_total(items, limit, offset, self.inbox_rows(actor, query).count)
        rows: QuerySet[Any] = self.inbox_rows(actor, query)
        if columns:
            rows = rows.values_list(*columns, named=True)
        if not count:
            return list(rows[offset : offset + limit]), None
        return _page(rows, limit, offset)

    def _compiled_inbox_page(
        self, actor: Actor, query: TaskFilter, columns: tuple[str, ...], limit: int, offset: int
    ) -> list[Any]:
        """:meth:`inbox_rows` sliced to a page, its SQL compiled once per shape (a page of
        the inbox is asked for on every request; building its query costs more than
        running it)."""
        values = {**_actor_values(actor), **_set_fields(query)}
        # The default status is part of the shape, not a value: the inbox's rules look at it.
        pending = values.get("status") == TaskStatus.PENDING
        if pending:
            del values["status"]
        # What changes the SQL besides the values; the page's limit and offset are values.
        shape = (self, actor.scoped, query.scope, query.ordering, pending, columns)
        return _INBOX_PAGES.run(_inbox_page, shape, values, limit=limit, offset=offset)

    def inbox_rows(self, actor: Actor, query: TaskFilter) -> QuerySet[HumanTaskModel]:
        """The rows of ``actor``'s inbox for ``query`` (lazy, ordered)."""
        self._check_scope(actor, query)
        return self._inbox_queryset(actor, query)

    def _check_scope(self, actor: Actor, query: TaskFilter) -> None:
        if query.scope == TaskScope.ALL and not self.sees_all_tasks(actor):
            raise NotAllowedError("You may not list every task")

    def _inbox_queryset(self, actor: Actor, query: TaskFilter) -> QuerySet[HumanTaskModel]:
        # The conditions go to one filter() call: each call copies the query.
        conditions: list[Q] = [Q(tenant_id=actor.tenant_id)] if actor.scoped else []
        if query.scope == TaskScope.ALL:
            pass  # every task of the tenant (see _check_scope)
        elif query.scope == TaskScope.ASSIGNED:
            conditions.append(Q(assignee_id=actor.user_id))
        elif query.scope == TaskScope.GROUPS:
            conditions.append(Q(assignee_id__isnull=True, assignee_group__in=actor.groups))
        elif query.scope == TaskScope.DELEGATED:
            conditions.append(_delegated_to(actor))
        elif query.scope == TaskScope.SUBSTITUTING:
            conditions.append(_substituting(actor))
        else:
            offered = _offered(actor) | _substituting(actor)
            if query.status != TaskStatus.PENDING:
                offered |= Q(completed_by=actor.user_id)
            conditions.append(offered)
        if query.scope != TaskScope.ALL:
            conditions.append(_not_excluded(actor))
        now = timezone.now()
        filters: dict[str, Any] = {
            "status": query.status,
            "assignee_id": query.assignee_id,
            "assignee_group": query.assignee_group,
            "instance__workflow_name": query.workflow_name,
            "instance_id": query.instance_id,
            "due_at__lt": query.due_before,
        }
        conditions += [Q((key, value)) for key, value in filters.items() if value is not None]
        if query.overdue is True:
            conditions.append(Q(status=TaskStatus.PENDING, due_at__lt=now))
        elif query.overdue is False:
            conditions.append(Q(due_at__isnull=True) | Q(due_at__gte=now))
        if query.due_within is not None:
            conditions.append(Q(due_at__gte=now, due_at__lt=now + query.due_within))
        rows = HumanTaskModel.objects.filter(*conditions)
        return rows.order_by(*TASK_ORDERINGS[query.ordering])

    def get_task(self, actor: Actor, task_id: Any) -> HumanTaskModel:
        """Return a task ``actor`` sees, or raise TaskNotFoundError."""
        pk = _as_uuid(task_id)
        found = []
        if pk is not None:
            # Among the tasks offered to the actor first: most lookups end there, without
            # asking for the actor's permissions.
            found = self._compiled_tasks(actor, _by_pk, {"pk": pk}, sees_all=False)
            if not found and self.sees_all_tasks(actor):
                found = self._compiled_tasks(actor, _by_pk, {"pk": pk}, sees_all=True)
        task = found[0] if found else None
        if task is None:
            raise TaskNotFoundError(task_id)
        return task

    def task_context(
        self, actor: Actor, task: HumanTaskModel
    ) -> tuple[WorkflowInstanceModel, list[StepExecutionModel]]:
        """The instance of a task from :meth:`get_task`, and its step history: what the
        person doing the task needs to see (seeing a task shows its instance's data)."""
        instance = WorkflowInstanceModel.objects.get(pk=task.instance_id)
        return instance, StepExecutionModel.objects.find_by_instance(task.instance_id)

    def may_complete(self, actor: Actor, task: HumanTaskModel) -> bool:
        """Whether ``actor`` may complete (or release) ``task``: it is offered to the actor,
        or the actor owns it (a delegated task). The engine still refuses a delegate's
        completion (only the owner completes a delegated task) and a four-eyes exclusion."""
        offered = _holds(task, _offered(actor)) or task.owner_id == actor.user_id
        # The permission first: it costs no query, a substitution costs one or two.
        return offered or actor.can("complete_any_task") or self.stands_in(actor, task)

    def stands_in(self, actor: Actor, task: HumanTaskModel) -> bool:
        """Whether ``actor`` substitutes now for the user ``task`` is assigned to (one
        query, only for a task assigned to someone else)."""
        if task.assignee_id is None or task.assignee_id == actor.user_id:
            return False
        return substitution.stands_in(
            self.engine.using, actor.user_id, task.assignee_id, _workflow_name(task)
        )

    def on_behalf_of(self, actor: Actor, task: HumanTaskModel) -> str | None:
        """The user ``actor`` would act for on ``task`` (its assignee, when ``actor``
        substitutes for them now), or None when ``actor`` acts as themselves."""
        if _holds(task, _offered(actor)) or task.owner_id == actor.user_id:
            return None
        return task.assignee_id if self.stands_in(actor, task) else None

    def substitutions(self, actor: Actor) -> list[Substitution]:
        """The substitutions active now in which ``actor`` stands in for someone."""
        return substitution.substituting(self.engine.using, actor.user_id)

    def may_delegate(self, actor: Actor, task: HumanTaskModel) -> bool:
        """Whether ``actor`` may delegate ``task``: it is theirs (assigned to them, owned by
        them, or unassigned and in their reach), or they may reassign any task. A task delegated
        and not resolved yet cannot be delegated again (the engine answers 409)."""
        if task.assignee_id is None:
            return self.may_claim(actor, task) or actor.can("reassign_any_task")
        mine = actor.user_id in (task.assignee_id, task.owner_id)
        return mine or actor.can("reassign_any_task")

    def may_resolve(self, actor: Actor, task: HumanTaskModel) -> bool:
        """Whether ``actor`` is the delegate of ``task``, delegated and not resolved yet."""
        found = task.delegation or {}
        return found.get("state") == DelegationState.DELEGATED and (
            found.get("delegate") == actor.user_id
        )

    def delegation(self, task: HumanTaskModel) -> dict[str, Any] | None:
        """The task's delegation (owner, delegate, state, draft, times), or None."""
        return task.delegation or None

    def delegate_task(self, actor: Actor, task_id: Any, to_user: Any) -> HumanTaskModel:
        """Delegate a pending task to ``to_user``: they answer a draft, ``actor`` (or the
        task's assignee) keeps the decision. See :mod:`workflows_app.core.delegation`."""
        task = self.get_task(actor, task_id)
        if task.status == TaskStatus.PENDING and not self.may_delegate(actor, task):
            raise NotAllowedError(f"Task '{task.pk}' is not yours to delegate")
        return self.engine.delegate_task_sync(task.pk, to_user, actor.user_id)

    def resolve_task(self, actor: Actor, task_id: Any, data: Any) -> HumanTaskModel:
        """The delegate ``actor`` answers a delegated task with the draft ``data``: the task
        goes back to its owner (the engine refuses anyone but the delegate)."""
        task = self.get_task(actor, task_id)
        return self.engine.resolve_task_sync(task.pk, actor.user_id, data)

    def is_excluded(self, actor: Actor, task: HumanTaskModel) -> bool:
        """Whether a four-eyes rule of the task's step excludes ``actor`` from it (the
        engine refuses them whatever their permissions; faces hide what they cannot do)."""
        return four_eyes.is_excluded(task.excluded_users, actor.user_id)

    def excluded_users(self, task: HumanTaskModel) -> list[str]:
        """The users a four-eyes rule excludes from ``task``, for display."""
        return four_eyes.users(task.excluded_users)

    def may_claim(self, actor: Actor, task: HumanTaskModel) -> bool:
        """Whether ``actor`` may claim ``task`` (it must also be unassigned): it would be
        offered to the actor if it were unassigned."""
        return _holds(task, _in_reach(actor)) or actor.can("complete_any_task")

    def may_reassign(self, actor: Actor, task: HumanTaskModel) -> bool:
        return task.assignee_id == actor.user_id or actor.can("reassign_any_task")

    def complete_task(
        self,
        actor: Actor,
        task_id: Any,
        output_data: dict[str, Any],
        *,
        completed_by: str | None = None,
        comment: str | None = None,
    ) -> WorkflowInstanceModel:
        """Complete a task with ``output_data`` as ``actor``; return its instance after."""
        task = self.get_task(actor, task_id)
        if completed_by is not None and completed_by != actor.user_id:
            raise NotAllowedError("completed_by must be your own user id")
        if task.status == TaskStatus.PENDING and not self.may_complete(actor, task):
            raise NotAllowedError(f"Task '{task.pk}' is not yours to complete")
        for_user = self.on_behalf_of(actor, task) if task.status == TaskStatus.PENDING else None
        self.engine.complete_task_sync(
            task, actor.user_id, output_data, comment=comment, on_behalf_of=for_user
        )
        return self._written_instance(task.instance_id)

    def task_comments(self, actor: Actor, task_id: Any) -> list[TaskCommentModel]:
        """The comments of a task ``actor`` sees (else TaskNotFoundError), oldest first."""
        task = self.get_task(actor, task_id)
        return self.engine.task_comments_sync(task.pk)

    def add_task_comment(self, actor: Actor, task_id: Any, text: Any) -> TaskCommentModel:
        """Add ``actor``'s comment to a task they see (anyone who sees it may comment)."""
        task = self.get_task(actor, task_id)
        return self.engine.add_task_comment_sync(task.pk, actor.user_id, text)

    def edit_task_comment(
        self, actor: Actor, task_id: Any, comment_id: Any, text: Any
    ) -> TaskCommentModel:
        """Edit ``actor``'s own comment on a task they see, within the edit window."""
        task = self.get_task(actor, task_id)
        return self.engine.edit_task_comment_sync(task.pk, comment_id, actor.user_id, text)

    def instance_comments(self, instance_id: Any) -> list[TaskCommentModel]:
        """The comments of every task of an instance (for its page: the caller checked that
        the actor sees the instance)."""
        return comments_engine.of_instance(self.engine.using, instance_id)

    def may_edit_comment(self, actor: Actor, comment: TaskCommentModel) -> bool:
        """Whether ``actor`` may still edit ``comment`` (theirs, within the window)."""
        seconds = conf.get_settings().COMMENT_EDIT_SECONDS
        young = comment_rules.editable(comment.created_at, timezone.now(), seconds)
        return comment.author == actor.user_id and young

    def claim_task(self, actor: Actor, task_id: Any) -> HumanTaskModel:
        """Make a pending, unassigned task ``actor``'s."""
        task = self.get_task(actor, task_id)
        if task.status == TaskStatus.PENDING and not self.may_claim(actor, task):
            raise NotAllowedError(f"Task '{task.pk}' is not offered to you")
        return self.engine.claim_task_sync(task.pk, actor.user_id)

    def release_task(self, actor: Actor, task_id: Any) -> HumanTaskModel:
        """Give a claimed task back to its group."""
        task = self.get_task(actor, task_id)
        if task.status == TaskStatus.PENDING and task.assignee_id is not None:
            if not self.may_complete(actor, task):
                raise NotAllowedError(f"Task '{task.pk}' is not yours to release")
        return self.engine.release_task_sync(task.pk, actor.user_id)

    def reassign_task(
        self,
        actor: Actor,
        task_id: Any,
        *,
        new_assignee: str | None = None,
        new_group: str | None = None,
        reason: str | None = None,
    ) -> HumanTaskModel:
        """Give a pending task to another user and/or group, with a reason."""
        task = self.get_task(actor, task_id)
        if task.status == TaskStatus.PENDING and not self.may_reassign(actor, task):
            raise NotAllowedError(f"Task '{task.pk}' is not yours to reassign")
        return self.engine.reassign_task_sync(
            task.pk,
            assignee_id=new_assignee,
            assignee_group=new_group,
            reason=reason,
            reassigned_by=actor.user_id,
        )

    def send_back_targets(self, task: HumanTaskModel) -> list[str]:
        """The earlier steps the step of ``task`` may send it back to (its ``send_back_to``;
        empty if its workflow version is no longer registered)."""
        try:
            definition = self.registry.get_definition(
                task.instance.workflow_name, task.instance.workflow_version
            )
        except WorkflowNotFoundError:
            return []
        return send_back_rules.allowed(definition.steps.get(task.step_name))

    def send_back_task(
        self, actor: Actor, task_id: Any, to_step: str, reason: str
    ) -> WorkflowInstanceModel:
        """Send a pending task back to the earlier step ``to_step`` for rework, with
        ``reason``; return its instance after. Whoever may complete the task may send it
        back."""
        task = self.get_task(actor, task_id)
        if task.status == TaskStatus.PENDING and not self.may_complete(actor, task):
            raise NotAllowedError(f"Task '{task.pk}' is not yours to send back")
        self.engine.send_back_sync(task.pk, to_step, reason, by=actor.user_id)
        return self._written_instance(task.instance_id)

    def complete_webhook(self, callback_token: str, payload: Any) -> WorkflowInstanceModel:
        """Resume the webhook step waiting for ``callback_token`` (the token is the
        credential: no actor)."""
        state = self.engine.complete_webhook_sync(callback_token, payload)
        return self._written_instance(state.id)


_LIVE = (WorkflowStatus.RUNNING, WorkflowStatus.WAITING)


def sent_back(task: HumanTaskModel | Any) -> dict[str, Any] | None:
    """The send back a task was made by (its activity's ``sent_back`` entry: ``from_step``,
    ``reason``, ``by``, ``at``), or None for a task not made by one."""
    return next((e for e in task.activity if e.get("action") == "sent_back"), None)


def is_overdue(task: HumanTaskModel, now: datetime | None = None) -> bool:
    """Whether a pending task is past its due date."""
    if task.status != TaskStatus.PENDING or task.due_at is None:
        return False
    return task.due_at < (now or timezone.now())


def is_due_soon(task: HumanTaskModel, within: timedelta, now: datetime | None = None) -> bool:
    """Whether a pending task falls due within ``within`` (and is not overdue yet)."""
    if task.status != TaskStatus.PENDING or task.due_at is None:
        return False
    now = now or timezone.now()
    return now <= task.due_at < now + within


_INBOX_PAGES = CompiledQuery(HumanTaskModel)
_TASK_READS = CompiledQuery(HumanTaskModel)
_TASK_FIELDS = tuple(field.attname for field in HumanTaskModel._meta.concrete_fields)


def _actor_values(actor: Actor) -> dict[str, Any]:
    """What of ``actor`` goes into the SQL of its task queries as values."""
    values: dict[str, Any] = {"user_id": actor.user_id, "groups": sorted(actor.groups)}
    if actor.tenant_id is not None:
        values["tenant_id"] = actor.tenant_id
    return values


def _stand_in(params: Mapping[str, Any], scoped: bool, sees_all: bool = False) -> Actor:
    """The actor a compiled task query is built for: the placeholders of the values of
    :func:`_actor_values`, and ``sees_all`` as the answer to the permissions that decide
    whether it sees every task (the only ones the task queries ask about)."""
    return Actor(
        user_id=params["user_id"],
        groups=frozenset(params["groups"]),
        tenant_id=params.get("tenant_id"),
        scoped=scoped,
        has_perm=lambda codename: sees_all,
    )


def _task_read(shape: tuple, params: Mapping[str, Any]) -> QuerySet:
    """The build of :meth:`WorkflowService._compiled_tasks`."""
    service, narrow, sees_all, scoped, columns = shape
    return narrow(service.tasks(_stand_in(params, scoped, sees_all)), params).values_list(*columns)


def _inbox_page(shape: tuple, params: Mapping[str, Any]) -> QuerySet:
    """The build of :meth:`WorkflowService._compiled_inbox_page`. A status other than the
    default is a value: the rules are those of "any" status, narrowed to it."""
    service, scoped, scope, ordering, pending, columns = shape
    fields = {name: params.get(name) for name in _INBOX_VALUES if name != "status"}
    status = TaskStatus.PENDING if pending else None
    query = TaskFilter(scope=scope, ordering=ordering, status=status, **fields)
    rows = service._inbox_queryset(_stand_in(params, scoped), query)
    if "status" in params:
        rows = rows.filter(status=params["status"])
    return rows.values_list(*columns)


def _by_pk(rows: QuerySet, params: Mapping[str, Any]) -> QuerySet:
    return rows.filter(pk=params["pk"])


def _pending_of_instance(rows: QuerySet, params: Mapping[str, Any]) -> QuerySet:
    rows = rows.filter(instance_id=params["instance_id"], status=TaskStatus.PENDING)
    return rows.order_by("created_at")


# The TaskFilter fields that can vary within one compiled inbox query (strings compared
# whole); a filter that sets any other field is built by the ORM each time.
_INBOX_VALUES = frozenset({"status", "assignee_id", "assignee_group", "workflow_name"})
_TASK_FILTERS = tuple(
    field.name
    for field in dataclasses.fields(TaskFilter)
    if field.name not in ("scope", "ordering")
)


def _set_fields(query: TaskFilter) -> dict[str, Any]:
    """The fields of ``query`` that narrow the list and are set."""
    return {name: value for name in _TASK_FILTERS if (value := getattr(query, name)) is not None}


def _offered(actor: Actor) -> Q:
    """The tasks offered to ``actor``: assigned to it, or unassigned in its groups or in none.

    The one definition of the rule: queries filter by it, and :func:`_holds` checks a
    loaded task against it."""
    return Q(assignee_id=actor.user_id) | (Q(assignee_id__isnull=True) & _in_reach(actor))


def _delegated_to(actor: Actor) -> Q:
    """The tasks delegated to ``actor`` and not resolved yet: assigned to them, owned by
    someone else (a resolve gives the task back to its owner)."""
    return Q(assignee_id=actor.user_id, owner_id__isnull=False) & ~Q(owner_id=actor.user_id)


def _substituting(actor: Actor) -> Q:
    """The tasks assigned to users ``actor`` substitutes for now: one subquery of the
    inbox's query (the database's clock decides "now"), so a compiled inbox keeps one
    shape whatever the substitutions."""
    return substitution.active(actor.user_id)


def _workflow_name(task: HumanTaskModel) -> str | None:
    """The workflow of a task (read from its instance if not loaded along)."""
    return (
        HumanTaskModel.objects.filter(pk=task.pk)
        .values_list("instance__workflow_name", flat=True)
        .first()
    )


def _not_excluded(actor: Actor) -> Q:
    """The tasks no four-eyes rule excludes ``actor`` from (see
    :mod:`workflows_app.core.four_eyes`): the inbox does not offer the others.

    The pattern is built in SQL around the user id, which stays a whole value: a compiled
    inbox query binds it like any other (a LIKE pattern made in Python could not be)."""
    separator = Value(four_eyes.SEPARATOR)
    pattern = Concat(separator, Value(actor.user_id), separator, output_field=TextField())
    return ~Q(excluded_users__contains=pattern)


def _in_reach(actor: Actor) -> Q:
    """The tasks of ``actor``'s groups or of no group: offered to it when unassigned."""
    in_reach = Q(assignee_group__isnull=True)
    if actor.groups:
        in_reach |= Q(assignee_group__in=sorted(actor.groups))
    return in_reach


def _holds(row: Any, condition: Q) -> bool:
    """Whether the loaded ``row`` meets ``condition``, evaluated in Python (no query).

    Knows the lookups the task rules use (exact, ``isnull`` and ``in``, joined by AND
    and OR), with SQL's answers for NULL columns; any other raises ValueError.
    """
    if condition.negated:
        raise ValueError("a negated condition cannot be checked in Python")
    answers = (
        _holds(row, child) if isinstance(child, Q) else _lookup_holds(row, *child)
        for child in condition.children
    )
    return any(answers) if condition.connector == Q.OR else all(answers)


def _lookup_holds(row: Any, lookup: str, value: Any) -> bool:
    name, _, kind = lookup.partition("__")
    if kind not in ("", "exact", "isnull", "in"):
        raise ValueError(f"the lookup {lookup!r} cannot be checked in Python")
    column = getattr(row, name)
    if kind == "isnull":
        return (column is None) is bool(value)
    if kind == "in":
        return column is not None and column in value
    return column is None if value is None else column == value


def _scoped(rows: QuerySet, actor: Actor) -> QuerySet:
    """Filter ``rows`` to the actor's tenant when tenancy is on (None: rows without one)."""
    return rows.filter(tenant_id=actor.tenant_id) if actor.scoped else rows


def _page(rows: QuerySet, limit: int, offset: int) -> tuple[list[Any], int]:
    return _with_total(list(rows[offset : offset + limit]), limit, offset, rows.count)


def _with_total(
    items: list[Any], limit: int, offset: int, count: Callable[[], int]
) -> tuple[list[Any], int]:
    """A page and the list's total: counted only when the page does not hold it all."""
    if offset == 0 and len(items) < limit:
        return items, len(items)  # the whole list is on this page: no COUNT needed
    return items, count()


def _as_uuid(value: Any) -> uuid.UUID | None:
    """Return ``value`` as a UUID, or None for what cannot be one (an id nothing has)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@functools.cache
def get_service() -> WorkflowService:
    """Return the service on the default engine (the default registry, the default database)."""
    return WorkflowService()
