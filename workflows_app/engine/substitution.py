"""Substitutions in the engine: adding one (no overlap with another of the same user), and
checking that a substitute stands in for a user now (see
:mod:`workflows_app.core.substitution` for the rules).

The inbox's condition (tasks assigned to someone the actor stands in for now) is a
subquery of the inbox query itself (:func:`active`, with the database's clock), so an
inbox stays one query with substitutions; the completion's check asks once
(:func:`check_stands_in`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Concat, Now, StrIndex

from workflows_app.core import substitution as rules
from workflows_app.core.exceptions import NotSubstituteError, WorkflowValidationError
from workflows_app.engine import semantics
from workflows_app.models import HumanTaskModel, Substitution, WorkflowInstanceModel

__all__ = ["active", "add", "check_stands_in", "overlapping", "stands_in", "substituting"]


def add(
    using: str,
    user: str,
    substitute: str,
    starts_at: datetime,
    ends_at: datetime,
    workflows: Iterable[str] | None = None,
    by: str | None = None,
) -> Substitution:
    """Add a substitution: ``substitute`` gets ``user``'s tasks from ``starts_at`` until
    ``ends_at`` (of ``workflows``, or of all). Refused (422) when it overlaps another
    substitution of ``user``."""
    rules.check(user, substitute, starts_at, ends_at, workflows)
    listed = list(workflows) if workflows is not None else None
    with transaction.atomic(using=using):
        # Lock the user's substitutions: two concurrent adds of one user serialize (on
        # PostgreSQL and MariaDB; the first one of a user has nothing to lock).
        list(Substitution.objects.using(using).select_for_update().filter(user=user))
        clash = overlapping(using, user, starts_at, ends_at).first()
        if clash is not None:
            raise WorkflowValidationError(
                [
                    f"'{user}' already has a substitution from {clash.starts_at:%Y-%m-%d %H:%M} "
                    f"until {clash.ends_at:%Y-%m-%d %H:%M} ({clash.substitute}): a user has "
                    "one substitution at a time"
                ]
            )
        row = Substitution(
            user=user,
            substitute=substitute,
            starts_at=starts_at,
            ends_at=ends_at,
            workflows=rules.encode(listed),
            created_by=by,
        )
        row.save(using=using, force_insert=True)
    return row


def overlapping(
    using: str, user: str, starts_at: datetime, ends_at: datetime, exclude: Any = None
) -> QuerySet[Substitution]:
    """The substitutions of ``user`` that share a moment with [starts_at, ends_at)."""
    rows = Substitution.objects.using(using).filter(
        user=user, starts_at__lt=ends_at, ends_at__gt=starts_at
    )
    return rows.exclude(pk=exclude) if exclude is not None else rows


def active(substitute: Any) -> Q:
    """The tasks (a condition on :class:`HumanTaskModel` rows) assigned to someone that
    ``substitute`` stands in for now, by the database's clock, for the task's workflow.

    ``substitute`` is a value (or a compiled query's placeholder): it is only compared."""
    # The task's workflow is read in a subquery of its own (the inbox query joins nothing):
    # is "\n<its name>\n" in the substitution's workflows?
    separator = Value(rules.SEPARATOR)
    marker = Concat(separator, F("workflow_name"), separator, output_field=TextField())
    of_workflow = (
        WorkflowInstanceModel.objects.filter(pk=OuterRef(OuterRef("instance_id")))
        .annotate(found=StrIndex(OuterRef("workflows"), marker))
        .filter(found__gt=0)
    )
    covering = Substitution.objects.filter(
        user=OuterRef("assignee_id"),
        substitute=substitute,
        starts_at__lte=Now(),
        ends_at__gt=Now(),
    ).filter(Q(workflows="") | Q(Exists(of_workflow)))
    return Q(Exists(covering))


def substituting(using: str, substitute: str) -> list[Substitution]:
    """The substitutions active now in which ``substitute`` stands in (for display)."""
    now = semantics.utcnow()
    rows = Substitution.objects.using(using).filter(
        substitute=substitute, starts_at__lte=now, ends_at__gt=now
    )
    return list(rows.order_by("user"))


def stands_in(using: str, substitute: Any, user: Any, workflow_name: str | None) -> bool:
    """Whether ``substitute`` stands in for ``user`` now, for a task of ``workflow_name``."""
    if not substitute or not user or substitute == user:
        return False
    now = semantics.utcnow()
    rows = Substitution.objects.using(using).filter(
        user=user, substitute=substitute, starts_at__lte=now, ends_at__gt=now
    )
    return any(
        rules.covers(text, workflow_name) for text in rows.values_list("workflows", flat=True)
    )


def check_stands_in(using: str, task: HumanTaskModel | Any, substitute: Any, user: Any) -> None:
    """Raise :class:`~workflows_app.NotSubstituteError` (403) unless ``substitute`` stands
    in for ``user`` now for the workflow of ``task``."""
    name = (
        HumanTaskModel.objects.using(using)
        .filter(pk=task.pk)
        .values_list("instance__workflow_name", flat=True)
        .first()
    )
    if not stands_in(using, substitute, user, name):
        raise NotSubstituteError(task.pk, substitute, user)
