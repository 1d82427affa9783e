"""Sending a task back for rework: which earlier steps a step may return an instance to.

A step lists the steps it may send back to in ``send_back_to`` (default: none). A step
``to_step`` is a valid target of ``step`` when it is an earlier step *on the same
branch*: there is a path of edges from ``to_step`` to ``step`` that

- does not leave a step that fans out into parallel branches (a
  :class:`~workflows_app.core.steps.ParallelGateway`, or a step with two or more edges
  without a condition), ``to_step`` included: running it again would start the other
  branches a second time;
- does not enter a join (a step that two or more paths from outside of it reach; the
  edge that closes a loop back into a step does not count), ``step`` included: the
  branches that met there have already moved on together.

Conditional edges and exclusive gateways are choices: one of them is taken, so a path may
go through them. These rules are pure (no Django, no I/O); the registry checks every
step's ``send_back_to`` with :func:`definition_errors` when a definition is registered,
and the engine checks a send back with :func:`problem` before it changes anything.
"""

from __future__ import annotations

from typing import Any

from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import WorkflowValidationError
from workflows_app.core.types import StepType

__all__ = [
    "MAX_REASON",
    "allowed",
    "check",
    "check_request",
    "definition_errors",
    "path_problem",
    "problem",
]

MAX_REASON = 2000
"""The longest reason a send back takes, in characters."""


def check_request(to_step: Any, reason: Any) -> None:
    """Raise WorkflowValidationError unless ``to_step`` (a step name) and ``reason`` are
    non-empty text of at most 255 and :data:`MAX_REASON` characters."""
    _check_text(to_step, "to_step", 255)
    _check_text(reason, "reason", MAX_REASON)


def check(definition: WorkflowDefinition, step_name: str, to_step: str) -> None:
    """Raise WorkflowValidationError if the step ``step_name`` may not send back to
    ``to_step`` (see :func:`problem`)."""
    found = problem(definition, step_name, to_step)
    if found is not None:
        raise WorkflowValidationError([found])


def _check_text(value: Any, name: str, longest: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise WorkflowValidationError([f"{name} must be a non-empty string"])
    if len(value) > longest:
        raise WorkflowValidationError([f"{name} must be at most {longest} characters long"])


def allowed(step: Any) -> list[str]:
    """The names of the steps ``step`` declares it may send back to."""
    return list(getattr(step, "send_back_to", None) or ())


def problem(definition: WorkflowDefinition, step_name: str, to_step: str) -> str | None:
    """Why the step ``step_name`` may not send back to ``to_step``, or None if it may."""
    step = definition.steps.get(step_name)
    targets = allowed(step)
    if to_step not in definition.steps:
        return f"Step '{to_step}' is not a step of workflow '{definition.name}'"
    if not targets:
        return f"Step '{step_name}' allows no send back (its send_back_to is empty)"
    if to_step not in targets:
        listed = ", ".join(f"'{name}'" for name in targets)
        return f"Step '{step_name}' may send back only to {listed}, not to '{to_step}'"
    return path_problem(definition, step_name, to_step)


def path_problem(definition: WorkflowDefinition, step_name: str, to_step: str) -> str | None:
    """Why ``to_step`` is not an earlier step on the branch of ``step_name``, or None."""
    if to_step == step_name:
        return f"Step '{step_name}' cannot send back to itself"
    if not _reaches(definition, to_step, step_name, lambda _name: True):
        return f"Step '{to_step}' is not an earlier step of '{step_name}' (no path leads from it)"
    if not _forks(definition, to_step) and _lane(definition, to_step, step_name):
        return None
    return (
        f"Step '{to_step}' is not on the same branch as '{step_name}': every path from it "
        "crosses a parallel split or join"
    )


def definition_errors(definition: WorkflowDefinition) -> list[str]:
    """A message for each ``send_back_to`` entry of the definition's steps that is wrong."""
    errors = []
    for name, step in definition.steps.items():
        targets = getattr(step, "send_back_to", None)
        if not targets:
            continue
        if getattr(step, "step_type", None) != StepType.HUMAN:
            errors.append(f"Step '{name}': only a human step can send back (send_back_to)")
            continue
        if isinstance(targets, str) or not all(isinstance(t, str) for t in targets):
            errors.append(f"Step '{name}': send_back_to must be a list of step names")
            continue
        for target in targets:
            if target not in definition.steps:
                errors.append(f"Step '{name}': send_back_to names unknown step '{target}'")
                continue
            found = path_problem(definition, name, target)
            if found is not None:
                errors.append(f"Step '{name}': send_back_to '{target}': {found}")
    return errors


def _lane(definition: WorkflowDefinition, start: str, goal: str) -> bool:
    """Whether a path leads from ``start`` to ``goal`` through no fork and no join."""
    seen = {start}
    pending = [start]
    while pending:
        name = pending.pop()
        for target in definition.successors(name):
            if target in seen or _joins(definition, target):
                continue
            if target == goal:
                return True
            seen.add(target)
            if not _forks(definition, target):
                pending.append(target)
    return False


def _reaches(definition: WorkflowDefinition, start: str, goal: str, passable: Any) -> bool:
    seen: set[str] = set()
    pending = [start]
    while pending:
        name = pending.pop()
        for target in definition.successors(name):
            if target == goal:
                return True
            if target not in seen and passable(target):
                seen.add(target)
                pending.append(target)
    return False


def _forks(definition: WorkflowDefinition, name: str) -> bool:
    """Whether the step ``name`` fans out into parallel branches."""
    step = definition.steps.get(name)
    if getattr(step, "branches", None):
        return True
    unconditional = [
        edge
        for edge in definition.edges
        if edge.get_source_name() == name and edge.condition is None
    ]
    return len({edge.get_target_name() for edge in unconditional}) >= 2


def _joins(definition: WorkflowDefinition, name: str) -> bool:
    """Whether two or more paths from outside the step ``name`` meet there (the source of
    an edge that closes a loop, which ``name`` itself reaches, does not count)."""
    sources = {s for s in definition.steps if name in definition.successors(s)}
    outside = {s for s in sources if s != name and not _reaches(definition, name, s, _any)}
    return len(outside) >= 2


def _any(_name: str) -> bool:
    return True
