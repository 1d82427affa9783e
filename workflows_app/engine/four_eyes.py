"""Four-eyes rules in the engine: who is excluded from a task, and the one check.

:mod:`workflows_app.core.four_eyes` holds the rule; this module reads what it needs (who
started the instance, who completed the steps a step names) when a task is created
(:func:`excluded_users`, kept on the task's ``excluded_users``), and refuses an excluded
user (:func:`refuse`). Every path that lets a person act on a task calls :func:`refuse`:
the claim, the completion (:func:`workflows_app.engine.task_actions.complete`, under
every way to complete), the send back, and the reassignment to a user. Nobody is exempt,
superusers included: the engine does not know about permissions.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from workflows_app.core import four_eyes
from workflows_app.core.types import TaskStatus
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

__all__ = ["excluded_users", "refuse"]


def excluded_users(using: str, instance_id: UUID, step: Any) -> str:
    """The ``excluded_users`` text of a new task of ``step`` in the instance (empty, with
    no query, for a step without a four-eyes rule)."""
    if not four_eyes.declares(step):
        return ""
    starter = None
    if getattr(step, "exclude_starter", False):
        starter = (
            WorkflowInstanceModel.objects.using(using)
            .filter(pk=instance_id)
            .values_list("created_by", flat=True)
            .first()
        )
    completers: dict[str, list[str]] = {}
    names = four_eyes.completers_of(step)
    if names:
        rows = (
            HumanTaskModel.objects.using(using)
            .filter(instance_id=instance_id, step_name__in=names, status=TaskStatus.COMPLETED)
            .values_list("step_name", "completed_by")
        )
        for name, user in rows:
            completers.setdefault(name, []).append(user)
    return four_eyes.encode(four_eyes.excluded(step, starter, completers))


def refuse(task_id: Any, excluded: str | None, user_id: Any, action: str) -> None:
    """Raise :class:`~workflows_app.ExcludedUserError` if a four-eyes rule excludes
    ``user_id`` from the task (``excluded``: its ``excluded_users``); ``action`` names what
    was refused (``"complete"``, ``"claim"``, ...)."""
    four_eyes.refuse(task_id, excluded, user_id, action)
