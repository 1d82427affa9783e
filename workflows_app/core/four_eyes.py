"""Four-eyes rules: who may not do a human step's task.

A human step may declare

- ``exclude_completers_of``: the names of earlier steps whose completers may not do its
  task ("the approver must not be the person who prepared the request");
- ``exclude_starter``: the person who started the instance may not do its task ("the
  submitter does not approve their own request").

Who is excluded is decided once, when the task is created, and kept on the task as text
(:func:`encode`): the engine refuses a claim, a completion, a send back and a reassignment
to an excluded user (:func:`refuse`), for everyone, superusers included, and the inbox
does not offer the task to them (one condition on that column). The rule here is pure: the
engine reads who completed what and who started the instance.

The text form is ``"\\n" + "\\n".join(users) + "\\n"`` (empty when nobody is excluded): a
user is excluded when ``"\\n" + user + "\\n"`` occurs in it, the same test in Python
(:func:`is_excluded`) and in SQL (a ``LIKE``), so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from workflows_app.core.exceptions import ExcludedUserError
from workflows_app.core.types import StepType

__all__ = [
    "SEPARATOR",
    "completers_of",
    "declares",
    "definition_errors",
    "encode",
    "excluded",
    "is_excluded",
    "marker",
    "refuse",
    "users",
]

SEPARATOR = "\n"


def completers_of(step: Any) -> list[str]:
    """The step names of the step's ``exclude_completers_of`` (none by default)."""
    return list(getattr(step, "exclude_completers_of", None) or ())


def declares(step: Any) -> bool:
    """Whether ``step`` has a four-eyes rule."""
    return bool(completers_of(step)) or bool(getattr(step, "exclude_starter", False))


def definition_errors(definition: Any) -> list[str]:
    """A message for each wrong four-eyes declaration of the definition's steps."""
    errors = []
    for name, step in definition.steps.items():
        names = getattr(step, "exclude_completers_of", None)
        starter = getattr(step, "exclude_starter", False)
        if not names and not starter:
            continue
        if getattr(step, "step_type", None) != StepType.HUMAN:
            errors.append(f"Step '{name}': only a human step can exclude users")
            continue
        if not isinstance(starter, bool):
            errors.append(f"Step '{name}': exclude_starter must be True or False")
        if not names:
            continue
        if isinstance(names, str) or not all(isinstance(item, str) for item in names):
            errors.append(f"Step '{name}': exclude_completers_of must be a list of step names")
            continue
        for target in names:
            if target not in definition.steps:
                errors.append(f"Step '{name}': exclude_completers_of names unknown step '{target}'")
            elif getattr(definition.steps[target], "step_type", None) != StepType.HUMAN:
                errors.append(
                    f"Step '{name}': exclude_completers_of names '{target}', which is not a "
                    "human step (only people complete human steps)"
                )
    return errors


def excluded(step: Any, starter: str | None, completers: Mapping[str, Iterable[str]]) -> list[str]:
    """The users excluded from the task of ``step``: the instance's ``starter`` if the step
    says so, and the completers (``completers``: step name -> users) of the steps it names."""
    found: set[str] = set()
    if getattr(step, "exclude_starter", False) and starter:
        found.add(str(starter))
    for name in completers_of(step):
        found.update(str(user) for user in completers.get(name, ()) if user)
    return sorted(found)


def encode(users: Iterable[str]) -> str:
    """The text kept on the task for ``users`` (empty for nobody)."""
    listed = list(users)
    return f"{SEPARATOR}{SEPARATOR.join(listed)}{SEPARATOR}" if listed else ""


def users(text: str | None) -> list[str]:
    """The users of a task's ``excluded_users`` text, for display."""
    return [user for user in (text or "").split(SEPARATOR) if user]


def marker(user_id: str) -> str:
    """What occurs in a task's ``excluded_users`` text when ``user_id`` is excluded."""
    return f"{SEPARATOR}{user_id}{SEPARATOR}"


def is_excluded(text: str | None, user_id: Any) -> bool:
    """Whether ``user_id`` is excluded by a task's ``excluded_users`` text."""
    return bool(text) and user_id is not None and marker(str(user_id)) in str(text)


def refuse(task_id: Any, text: str | None, user_id: Any, action: str) -> None:
    """Raise :class:`ExcludedUserError` if ``user_id`` is excluded from the task: the one
    check of the rule (``action``: what was refused, for the message)."""
    if is_excluded(text, user_id):
        raise ExcludedUserError(task_id, user_id, action)
