"""Workflow definitions: steps, edges, validation and Mermaid diagrams."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from workflows_app.core import conditions, multi_instance
from workflows_app.core.types import StepType

if TYPE_CHECKING:
    from workflows_app.core.context import WorkflowContext

__all__ = ["Edge", "Workflow", "WorkflowDefinition", "condition_label"]

Condition = str | Callable[["WorkflowContext"], bool]

_SHAPES = {
    StepType.HUMAN: ("{{", "}}"),
    StepType.GATEWAY: ("{", "}"),
    StepType.TIMER: ("([[", "]])"),
    StepType.MESSAGE: (">", "]"),
}
_LABEL_STRIP = str.maketrans("", "", "'\"()<>|[]{}")
_HREF_STRIP = str.maketrans("", "", '"<> \n')
_CHILD_NODE = "wf_child_"
"""The node id prefix of child instances in an instance's graph (``wf_child_1``, ...)."""


@dataclass(frozen=True)
class GraphChild:
    """A child instance drawn in its parent's graph: the subworkflow ``step`` that started
    it, the node's ``label``, and where the node links to (``href``, none: no link) with
    its ``tooltip``."""

    step: str
    label: str
    href: str | None = None
    tooltip: str = ""


_STATE_STYLES = (
    "fill:#90EE90,stroke:#006400,stroke-width:2px",
    "fill:#FFB6C1,stroke:#8B0000,stroke-width:2px",
    "fill:#FFD700,stroke:#FFA500,stroke-width:3px",
)


def _step_name(value: Any) -> str:
    return value if isinstance(value, str) else value.name


def condition_label(condition: Condition | None) -> str | None:
    """Return how a condition is shown and stored: the string, or ``"conditional"``."""
    if condition is None:
        return None
    return condition if isinstance(condition, str) else "conditional"


@dataclass
class Edge:
    """A transition from ``source`` to ``target``, taken when ``condition`` holds.

    A condition is a callable taking the context, or a string expression
    evaluated safely (see :mod:`workflows_app.core.conditions`).
    """

    source: str | type[Any]
    target: str | type[Any]
    condition: Condition | None = None

    def evaluate_condition(self, context: WorkflowContext) -> bool:
        """Return True if the edge may be taken for ``context``."""
        if self.condition is None:
            return True
        if isinstance(self.condition, str):
            return conditions.evaluate_condition(self.condition, context)
        return bool(self.condition(context))

    def get_source_name(self) -> str:
        """Return the source step's name."""
        return _step_name(self.source)

    def get_target_name(self) -> str:
        """Return the target step's name."""
        return _step_name(self.target)


@dataclass
class WorkflowDefinition:
    """The graph of a workflow: its steps (keyed by step id) and edges."""

    name: str
    version: str
    description: str
    steps: dict[str, Any]
    edges: list[Edge]
    initial_step: str
    terminal_steps: set[str] = field(default_factory=set)
    input_schema: dict[str, Any] | None = None
    """(added) A JSON Schema the ``initial_data`` of every new instance must match, or None
    (any JSON object). The engines check it on every start; the admin's start form is
    built from it."""
    start_on_message: str | None = None
    """(added) The name of the messages that start an instance of this workflow when no
    instance waits for them (see docs/messages.rst), or None."""
    correlation_key: str | None = None
    """(added) With ``start_on_message``: the key of the initial data that receives the
    message's correlation key."""

    def validate(self) -> list[str]:
        """Return a list of problems; an empty list means the definition is valid."""
        errors: list[str] = []
        if self.initial_step not in self.steps:
            errors.append(f"Initial step '{self.initial_step}' not found in steps")
        errors.extend(
            f"Terminal step '{name}' not found in steps"
            for name in sorted(self.terminal_steps)
            if name not in self.steps
        )
        for index, edge in enumerate(self.edges):
            if edge.get_source_name() not in self.steps:
                errors.append(f"Edge {index}: source step '{edge.get_source_name()}' not found")
            if edge.get_target_name() not in self.steps:
                errors.append(f"Edge {index}: target step '{edge.get_target_name()}' not found")
        reachable = self._reachable()
        errors.extend(
            f"Step '{name}' is unreachable from initial step"
            for name in self.steps
            if name not in reachable and name not in self.terminal_steps
        )
        errors.extend(self.condition_errors())
        return errors

    def condition_errors(self) -> list[str]:
        """Return a message for each string condition that is not an allowed expression."""
        errors = []
        for index, edge in enumerate(self.edges):
            if isinstance(edge.condition, str):
                try:
                    conditions.check_condition(edge.condition)
                except conditions.ConditionError as exc:
                    errors.append(f"Edge {index}: invalid condition {edge.condition!r}: {exc}")
        for name, step in self.steps.items():
            if multi_instance.is_multi(step):
                condition = getattr(step, "completion_condition", None)
                problem = multi_instance.condition_problem(condition)
                if problem is not None:
                    errors.append(
                        f"Step '{name}': invalid completion_condition {condition!r}: {problem}"
                    )
        return errors

    def successors(self, step_name: str) -> list[str]:
        """Return every step an edge (or a parallel gateway's branch) leads to."""
        targets = [e.get_target_name() for e in self.edges if e.get_source_name() == step_name]
        step = self.steps.get(step_name)
        targets.extend(getattr(step, "branches", None) or ())
        return targets

    def _reachable(self) -> set[str]:
        seen: set[str] = set()
        pending = [self.initial_step] if self.initial_step in self.steps else []
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            pending.extend(self.successors(name))
        return seen

    def get_next_steps(self, current_step: str, context: WorkflowContext) -> list[str]:
        """Return, in edge order, the targets of the edges from ``current_step`` that hold."""
        return [
            edge.get_target_name()
            for edge in self.edges
            if edge.get_source_name() == current_step and edge.evaluate_condition(context)
        ]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description (callable conditions become ``"conditional"``)."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "steps": list(self.steps),
            "edges": [
                {
                    "source": edge.get_source_name(),
                    "target": edge.get_target_name(),
                    "condition": condition_label(edge.condition),
                }
                for edge in self.edges
            ],
            "initial_step": self.initial_step,
            "terminal_steps": sorted(self.terminal_steps),
        }

    def to_mermaid(self) -> str:
        """Return the definition as a Mermaid flowchart."""
        lines = ["graph TD"]
        for key, step in self.steps.items():
            opening, closing = _SHAPES.get(getattr(step, "step_type", None), ("[", "]"))
            if key == self.initial_step:
                prefix = "START: "
            elif key in self.terminal_steps:
                prefix = "END: "
            else:
                prefix = ""
            label = key.replace("_", " ").title()
            lines.append(f"    {key}{opening}{prefix}{label}{closing}")
        for edge in self.edges:
            source, target = edge.get_source_name(), edge.get_target_name()
            label = condition_label(edge.condition)
            if label is None:
                lines.append(f"    {source} --> {target}")
            else:
                lines.append(f"    {source} -->|{label.translate(_LABEL_STRIP)}| {target}")
        return "\n".join(lines)

    def to_mermaid_with_state(
        self,
        current_step: str | None = None,
        completed_steps: list[str] | None = None,
        failed_steps: list[str] | None = None,
        children: Iterable[GraphChild] = (),
    ) -> str:
        """Return :meth:`to_mermaid` with completed, failed and current steps coloured, and
        one node per child instance (``children``) hanging from its subworkflow step by a
        dotted edge, a link on it when the child has an ``href``."""
        done, failed, current = _STATE_STYLES
        lines = [self.to_mermaid()]
        for number, child in enumerate(children, start=1):
            if child.step not in self.steps:
                continue  # a step the definition no longer has
            node = f"{_CHILD_NODE}{number}"
            lines.append(f'    {node}(["{child.label.translate(_LABEL_STRIP)}"])')
            lines.append(f"    {child.step} -.-> {node}")
            if child.href:
                href = child.href.translate(_HREF_STRIP)
                tooltip = child.tooltip.translate(_LABEL_STRIP)
                lines.append(f'    click {node} href "{href}" "{tooltip}"')
        lines.extend(f"    style {name} {done}" for name in completed_steps or ())
        lines.extend(f"    style {name} {failed}" for name in failed_steps or ())
        if current_step:
            lines.append(f"    style {current_step} {current}")
        return "\n".join(lines)


def _as_edge(item: Edge | Iterable[Any]) -> Edge:
    if isinstance(item, Edge):
        return item
    return Edge(*item)


class Workflow:
    """Declare a workflow with class attributes.

    Example::

        class Approval(Workflow):
            name = "approval"
            version = "1.0.0"
            steps = [Submit(), Review(), Notify()]
            edges = [("submit", "review"), ("review", "notify")]

    ``steps`` is a list of step instances (a step class is instantiated
    without arguments) or a dict of step id to step; ``edges`` holds
    :class:`Edge` objects or ``(source, target[, condition])`` tuples.
    ``initial_step`` defaults to the first step and ``terminal_steps`` to the
    steps without outgoing edges. ``input_schema`` (added) is a JSON Schema that the
    initial data of every new instance must match (see
    :attr:`WorkflowDefinition.input_schema`). ``start_on_message`` (added) names the
    messages that start an instance, whose correlation key is stored in the initial data
    under ``correlation_key`` (see docs/messages.rst).
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = ""
    steps: ClassVar[Any] = ()
    edges: ClassVar[Any] = ()
    initial_step: ClassVar[str | None] = None
    terminal_steps: ClassVar[Iterable[str] | None] = None
    input_schema: ClassVar[dict[str, Any] | None] = None
    start_on_message: ClassVar[str | None] = None
    correlation_key: ClassVar[str | None] = None

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        """Return the :class:`WorkflowDefinition` built from the class attributes."""
        cached = cls.__dict__.get("_definition")
        if cached is not None:
            return cached
        if not cls.name:
            raise TypeError(f"Workflow class {cls.__name__} needs a name")
        if isinstance(cls.steps, dict):
            steps = dict(cls.steps)
        else:
            instances = [step() if isinstance(step, type) else step for step in cls.steps]
            steps = {step.name: step for step in instances}
        edges = [_as_edge(item) for item in cls.edges]
        definition = WorkflowDefinition(
            name=cls.name,
            version=cls.version,
            description=cls.description or (cls.__doc__ or "").strip(),
            steps=steps,
            edges=edges,
            initial_step=cls.initial_step or next(iter(steps), ""),
            input_schema=cls.input_schema,
            start_on_message=cls.start_on_message,
            correlation_key=cls.correlation_key,
        )
        if cls.terminal_steps is not None:
            definition.terminal_steps = set(cls.terminal_steps)
        else:
            definition.terminal_steps = {n for n in steps if not definition.successors(n)}
        cls._definition = definition  # type: ignore[attr-defined]
        return definition
