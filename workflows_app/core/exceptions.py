"""Exceptions raised by workflows_app.

Every exception derives from :class:`WorkflowsError`. The "not found" errors
also derive from :class:`KeyError` and the state errors from
:class:`ValueError`, so code written against litestar-workflows (which raised
those built-ins) keeps working.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CallbackNotFoundError",
    "CommentNotFoundError",
    "DelegateCannotCompleteError",
    "ExcludedUserError",
    "HumanTaskError",
    "InvalidTransitionError",
    "NotDelegateError",
    "NotSubstituteError",
    "StepExecutionError",
    "StepTimeoutError",
    "TaskAlreadyCompletedError",
    "TaskNotFoundError",
    "TaskValidationError",
    "UnauthorizedCommentError",
    "UnauthorizedTaskError",
    "WorkflowAlreadyCompletedError",
    "WorkflowInstanceNotFoundError",
    "WorkflowNotFoundError",
    "WorkflowStateError",
    "WorkflowValidationError",
    "WorkflowsError",
]


class WorkflowsError(Exception):
    """A workflows_app operation failed."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError.__str__ would quote the message; always show it plainly.
        return self.message


class _NotFound(WorkflowsError, KeyError):
    """Something looked up by name or id does not exist."""


class WorkflowStateError(WorkflowsError, ValueError):
    """The workflow instance is not in a state that allows this operation."""


class WorkflowNotFoundError(_NotFound):
    """No workflow is registered under this name (and version)."""

    def __init__(self, name: str, version: str | None = None) -> None:
        self.name = name
        self.version = version
        suffix = f" version '{version}'" if version else ""
        super().__init__(f"Workflow '{name}'{suffix} not found")


class WorkflowInstanceNotFoundError(_NotFound):
    """No workflow instance has this id."""

    def __init__(self, instance_id: Any) -> None:
        self.instance_id = instance_id
        super().__init__(f"Workflow instance '{instance_id}' not found")


class CallbackNotFoundError(_NotFound):
    """No webhook step waits for this callback token."""

    def __init__(self) -> None:
        super().__init__("No webhook step waits for this callback token")


class StepExecutionError(WorkflowsError):
    """A step raised while it ran."""

    def __init__(self, step_name: str, cause: BaseException | None = None) -> None:
        self.step_name = step_name
        self.cause = cause
        suffix = f": {cause}" if cause is not None else ""
        super().__init__(f"Step '{step_name}' failed{suffix}")


class StepTimeoutError(WorkflowsError, TimeoutError):
    """A step ran longer than its ``timeout``."""

    def __init__(self, step_name: str, seconds: float) -> None:
        self.step_name = step_name
        self.seconds = seconds
        super().__init__(f"Step '{step_name}' timed out after {seconds:g} s")


class InvalidTransitionError(WorkflowStateError):
    """The instance cannot move between these two steps."""

    def __init__(self, from_step: str, to_step: str, reason: str | None = None) -> None:
        self.from_step = from_step
        self.to_step = to_step
        self.reason = reason
        suffix = f": {reason}" if reason else ""
        super().__init__(f"Invalid transition from '{from_step}' to '{to_step}'{suffix}")


class WorkflowValidationError(WorkflowsError):
    """A workflow definition (or submitted data) is invalid.

    ``errors`` holds one message per problem. When the problems are about fields of
    submitted data (a start's ``initial_data`` against the workflow's ``input_schema``),
    ``field_errors`` maps each field's path (``"amount"``, ``"items/0/qty"``, ``""`` for
    the whole document) to its messages; otherwise it is empty.
    """

    def __init__(self, errors: list[str], field_errors: dict[str, list[str]] | None = None) -> None:
        self.errors = list(errors)
        self.field_errors = dict(field_errors or {})
        super().__init__(f"Workflow validation failed: {'; '.join(self.errors)}")


def field_messages(field_errors: dict[str, list[str]]) -> list[str]:
    """One message per problem of ``field_errors``: ``"path: message"`` (the message alone
    for the whole document)."""
    return [
        f"{path}: {message}" if path else message
        for path, messages in field_errors.items()
        for message in messages
    ]


class TaskValidationError(WorkflowValidationError):
    """Data submitted for a human task does not match its form schema.

    ``errors`` holds one message per problem; ``field_errors`` maps the path of
    each offending field (``"amount"``, ``"items/0/qty"``, ``""`` for the whole
    document) to its messages.
    """

    def __init__(self, field_errors: dict[str, list[str]]) -> None:
        super().__init__(field_messages(field_errors), field_errors)


class WorkflowAlreadyCompletedError(WorkflowStateError):
    """The workflow instance has already finished."""

    def __init__(self, instance_id: Any, status: Any) -> None:
        self.instance_id = instance_id
        self.status = status
        super().__init__(f"Workflow '{instance_id}' is already {status}")


class HumanTaskError(WorkflowsError):
    """A human task operation failed."""


class TaskNotFoundError(HumanTaskError, KeyError):
    """No human task has this id."""

    def __init__(self, task_id: Any) -> None:
        self.task_id = task_id
        super().__init__(f"Task '{task_id}' not found")


class TaskAlreadyCompletedError(HumanTaskError, ValueError):
    """The human task is no longer pending."""

    def __init__(self, task_id: Any) -> None:
        self.task_id = task_id
        super().__init__(f"Task '{task_id}' is already completed")


class UnauthorizedTaskError(HumanTaskError):
    """The user may not act on this human task."""

    def __init__(self, task_id: Any, user_id: Any) -> None:
        self.task_id = task_id
        self.user_id = user_id
        super().__init__(f"User '{user_id}' is not authorized to complete task '{task_id}'")


class ExcludedUserError(UnauthorizedTaskError):
    """A four-eyes rule excludes the user from this task: they started the instance, or
    completed a step the task's step names (see :mod:`workflows_app.core.four_eyes`).
    Nobody is exempt, superusers included."""

    def __init__(self, task_id: Any, user_id: Any, action: str = "complete") -> None:
        HumanTaskError.__init__(
            self,
            f"User '{user_id}' may not {action} task '{task_id}': a four-eyes rule of its "
            "step excludes them (they started the workflow or did an earlier step of it)",
        )
        self.task_id = task_id
        self.user_id = user_id
        self.action = action


class DelegateCannotCompleteError(UnauthorizedTaskError):
    """The task was delegated: only its owner completes it (the delegate answers a draft
    with ``resolve_task``, which hands the task back). See
    :mod:`workflows_app.core.delegation`."""

    def __init__(self, task_id: Any, user_id: Any, owner: Any) -> None:
        HumanTaskError.__init__(
            self,
            f"User '{user_id}' may not complete task '{task_id}': it was delegated, and only "
            f"its owner '{owner}' completes it (a delegate resolves it with a draft answer)",
        )
        self.task_id = task_id
        self.user_id = user_id
        self.owner = owner


class NotDelegateError(UnauthorizedTaskError):
    """Only the delegate of a delegated task may resolve it."""

    def __init__(self, task_id: Any, user_id: Any, delegate: Any) -> None:
        HumanTaskError.__init__(
            self,
            f"User '{user_id}' may not resolve task '{task_id}': it is delegated to '{delegate}'",
        )
        self.task_id = task_id
        self.user_id = user_id
        self.delegate = delegate


class NotSubstituteError(UnauthorizedTaskError):
    """The user acted for another user they do not stand in for now (no active
    substitution of theirs covers the task). See :mod:`workflows_app.core.substitution`."""

    def __init__(self, task_id: Any, user_id: Any, on_behalf_of: Any) -> None:
        HumanTaskError.__init__(
            self,
            f"User '{user_id}' may not act on task '{task_id}' for '{on_behalf_of}': they do "
            "not substitute for them now",
        )
        self.task_id = task_id
        self.user_id = user_id
        self.on_behalf_of = on_behalf_of


class CommentNotFoundError(_NotFound):
    """No comment of this task has this id."""

    def __init__(self, comment_id: Any) -> None:
        self.comment_id = comment_id
        super().__init__(f"Comment '{comment_id}' not found")


class UnauthorizedCommentError(HumanTaskError):
    """Only the author of a comment may edit it."""

    def __init__(self, comment_id: Any, user_id: Any) -> None:
        self.comment_id = comment_id
        self.user_id = user_id
        super().__init__(
            f"User '{user_id}' may not edit comment '{comment_id}': only its author may"
        )
