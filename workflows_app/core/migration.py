"""Moving running instances from one version of a workflow to another: the plan, its
checks, and the difference between the two definitions (pure: no I/O).

A :class:`MigrationPlan` names the workflow, the two versions and a ``mapping`` of source
step names to target step names; a step it does not name maps to the step of the same name.
:func:`plan_problems` checks a plan against both definitions; :func:`branch_problem` says
whether one instance's branches all have a place in the target. The engine applies a plan
(:mod:`workflows_app.engine.migrations`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.types import StepType

__all__ = ["DefinitionDiff", "MigrationPlan", "branch_problem", "definition_diff", "plan_problems"]

# The kinds of step where a branch waits for the outside world or the clock: a version that
# drops one of them cannot take the instances waiting there, so a plan must map it.
WAITING_KINDS = (StepType.HUMAN, StepType.WEBHOOK, StepType.MESSAGE, StepType.TIMER)


@dataclass(frozen=True)
class MigrationPlan:
    """Move instances of ``workflow`` from ``from_version`` to ``to_version``.

    ``mapping`` maps a step of the source version to the step of the target version that
    takes its branches (a renamed or replaced step); any other step maps to the step of
    the same name.
    """

    workflow: str
    from_version: str
    to_version: str
    mapping: Mapping[str, str] = field(default_factory=dict)

    def target_of(self, step: str) -> str:
        """The target version's step that takes a branch at the source's ``step``."""
        return self.mapping.get(step, step)

    def inverse(self) -> MigrationPlan:
        """The plan that moves instances back (the mapping reversed)."""
        return MigrationPlan(
            self.workflow,
            self.to_version,
            self.from_version,
            {target: source for source, target in self.mapping.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON (for the audit record)."""
        return {
            "workflow": self.workflow,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "mapping": dict(self.mapping),
        }


def _kind(step: Any) -> str:
    return str(getattr(step, "step_type", StepType.MACHINE))


def plan_problems(
    plan: MigrationPlan, source: WorkflowDefinition, target: WorkflowDefinition
) -> list[str]:
    """What is wrong with ``plan`` for these two definitions; empty when it can be applied.

    A mapping must name steps of the source and of the target; a step must map onto a
    step of the same kind (a human step onto a human step); and a step where branches wait
    (human, webhook, timer) must have a place in the target, by name or by mapping.
    """
    problems = []
    if plan.from_version == plan.to_version:
        problems.append("from_version and to_version are the same version")
    for name, definition in (("source", source), ("target", target)):
        if definition.name != plan.workflow:
            problems.append(f"the {name} definition is '{definition.name}', not '{plan.workflow}'")
    for step, mapped in plan.mapping.items():
        if step not in source.steps:
            problems.append(
                f"the mapping names step '{step}', which version {plan.from_version} does not have"
            )
        if mapped not in target.steps:
            problems.append(
                f"the mapping sends step '{step}' to '{mapped}', which version "
                f"{plan.to_version} does not have"
            )
    for step_name, step in source.steps.items():
        mapped = plan.target_of(step_name)
        if mapped in target.steps:
            if _kind(step) != _kind(target.steps[mapped]):
                problems.append(
                    f"step '{step_name}' is a {_kind(step)} step and cannot move onto "
                    f"'{mapped}', a {_kind(target.steps[mapped])} step"
                )
        elif step_name not in plan.mapping and _kind(step) in WAITING_KINDS:
            problems.append(
                f"step '{step_name}' ({_kind(step)}) is not in version {plan.to_version}: "
                "map it to a step of that version"
            )
    return problems


def branch_problem(
    plan: MigrationPlan, target: WorkflowDefinition, steps: Iterable[str]
) -> str | None:
    """Why an instance with live branches at ``steps`` (source names) cannot move, or None."""
    for step in steps:
        if plan.target_of(step) not in target.steps:
            return (
                f"a branch is at step '{step}', which version {plan.to_version} does not "
                "have and the plan does not map"
            )
    return None


@dataclass(frozen=True)
class DefinitionDiff:
    """How the target version differs from the source, seen through the plan's mapping.

    Steps are named as in the target; ``steps_changed`` pairs a step with what changed
    (``"kind"``, ``"form_schema"``); an edge is ``(source step, target step)``.
    """

    steps_added: list[str]
    steps_removed: list[str]
    steps_renamed: list[tuple[str, str]]
    steps_changed: list[tuple[str, str]]
    edges_added: list[tuple[str, str]]
    edges_removed: list[tuple[str, str]]

    @property
    def is_empty(self) -> bool:
        return not any(
            (
                self.steps_added,
                self.steps_removed,
                self.steps_renamed,
                self.steps_changed,
                self.edges_added,
                self.edges_removed,
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps_added": self.steps_added,
            "steps_removed": self.steps_removed,
            "steps_renamed": [list(pair) for pair in self.steps_renamed],
            "steps_changed": [list(pair) for pair in self.steps_changed],
            "edges_added": [list(edge) for edge in self.edges_added],
            "edges_removed": [list(edge) for edge in self.edges_removed],
        }


def definition_diff(
    plan: MigrationPlan, source: WorkflowDefinition, target: WorkflowDefinition
) -> DefinitionDiff:
    """What differs between ``source`` and ``target`` once the plan's mapping is applied."""
    moved = {plan.target_of(step): step for step in source.steps}
    changed = []
    for name, step in target.steps.items():
        before = source.steps.get(moved.get(name, ""))
        if before is None:
            continue
        if _kind(before) != _kind(step):
            changed.append((name, "kind"))
        if getattr(before, "form_schema", None) != getattr(step, "form_schema", None):
            changed.append((name, "form_schema"))
    before_edges = {
        (plan.target_of(edge.get_source_name()), plan.target_of(edge.get_target_name()))
        for edge in source.edges
    }
    after_edges = {(edge.get_source_name(), edge.get_target_name()) for edge in target.edges}
    return DefinitionDiff(
        steps_added=sorted(name for name in target.steps if name not in moved),
        steps_removed=sorted(
            step for step in source.steps if plan.target_of(step) not in target.steps
        ),
        steps_renamed=sorted(
            (step, mapped) for step, mapped in plan.mapping.items() if step != mapped
        ),
        steps_changed=sorted(changed),
        edges_added=sorted(after_edges - before_edges),
        edges_removed=sorted(before_edges - after_edges),
    )
