"""Task comments: the thread of a task, written here only (see
:mod:`workflows_app.core.comments` for the rules).

Comments live in a table of their own (:class:`~workflows_app.models.TaskCommentModel`),
not in the task's ``activity``: a thread grows and is read page by page, an edit must keep
what it replaced, and a comment written while the engine completes the task must not race
with the task row's own update. An edit keeps the replaced text in the comment's
``edits``, so the table is the thread's audit trail.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction

from workflows_app import conf
from workflows_app.core import comments
from workflows_app.core.exceptions import (
    CommentNotFoundError,
    TaskNotFoundError,
    UnauthorizedCommentError,
    WorkflowValidationError,
)
from workflows_app.engine import semantics, task_actions
from workflows_app.models import HumanTaskModel, TaskCommentModel

__all__ = ["add", "edit", "event", "of_instance", "thread"]


def add(using: str, task_id: Any, author: str, text: Any) -> TaskCommentModel:
    """Add ``author``'s comment ``text`` to the task ``task_id`` (in any status)."""
    text = comments.check_text(text)
    if not isinstance(author, str) or not author:
        raise WorkflowValidationError(["a comment needs its author's user id"])
    found = (
        HumanTaskModel.objects.using(using)
        .filter(pk=task_actions.task_pk(task_id))
        .values_list("pk", "instance_id", "tenant_id")
        .first()
    )
    if found is None:
        raise TaskNotFoundError(task_id)
    pk, instance_id, tenant_id = found
    comment = TaskCommentModel(
        task_id=pk,
        instance_id=instance_id,
        tenant_id=tenant_id,
        author=author,
        text=text,
        created_at=semantics.utcnow(),
    )
    comment.save(using=using, force_insert=True)
    return comment


def edit(using: str, task_id: Any, comment_id: Any, by: str, text: Any) -> TaskCommentModel:
    """Replace the text of the comment ``comment_id`` of the task ``task_id`` with ``text``:
    only its author ``by`` may, within the edit window; the old text is kept in ``edits``."""
    text = comments.check_text(text)
    pk = _comment_pk(comment_id)
    with transaction.atomic(using=using):
        comment = (
            TaskCommentModel.objects.using(using)
            .select_for_update()
            .filter(pk=pk, task_id=task_actions.task_pk(task_id))
            .first()
        )
        if comment is None:
            raise CommentNotFoundError(comment_id)
        if comment.author != by:
            raise UnauthorizedCommentError(comment.pk, by)
        now = semantics.utcnow()
        comments.check_edit(
            comment.pk, comment.created_at, now, conf.get_settings().COMMENT_EDIT_SECONDS
        )
        if text != comment.text:
            comment.edits = [*comment.edits, {"text": comment.text, "until": now.isoformat()}]
            comment.text, comment.edited_at = text, now
            comment.save(using=using, update_fields=["text", "edited_at", "edits"])
    return comment


def event(comment: TaskCommentModel, *, edited: bool) -> semantics.Event:
    """The ``task.commented`` event of a comment just posted (or, ``edited``, changed)."""
    return (
        "task.commented",
        {
            "instance_id": comment.instance_id,
            "task_id": comment.task_id,
            "comment_id": comment.pk,
            "author": comment.author,
            "edited": edited,
        },
    )


def thread(using: str, task_id: Any) -> list[TaskCommentModel]:
    """The comments of a task, oldest first."""
    rows = TaskCommentModel.objects.using(using).filter(task_id=task_actions.task_pk(task_id))
    return list(rows.order_by("created_at", "id"))


def of_instance(using: str, instance_id: Any) -> list[TaskCommentModel]:
    """The comments of every task of an instance, oldest first (with each one's task)."""
    rows = TaskCommentModel.objects.using(using).filter(instance_id=instance_id)
    return list(rows.select_related("task").order_by("created_at", "id"))


def _comment_pk(comment_id: Any) -> UUID:
    if isinstance(comment_id, UUID):
        return comment_id
    try:
        return UUID(str(comment_id))
    except ValueError:
        raise CommentNotFoundError(comment_id) from None
