"""Graph helpers: adjacency queries, paths, and graph data for UIs."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from workflows_app.core.definition import WorkflowDefinition, condition_label

if TYPE_CHECKING:
    from workflows_app.core.context import WorkflowContext

__all__ = [
    "WorkflowGraph",
    "generate_mermaid_graph",
    "generate_mermaid_graph_with_state",
    "parse_graph_to_dict",
]


class WorkflowGraph:
    """Adjacency view of a definition."""

    def __init__(self, definition: WorkflowDefinition) -> None:
        self.definition = definition
        self._forward: dict[str, list[Any]] = {name: [] for name in definition.steps}
        self._reverse: dict[str, list[str]] = {name: [] for name in definition.steps}
        for edge in definition.edges:
            source, target = edge.get_source_name(), edge.get_target_name()
            self._forward[source].append(edge)  # KeyError: the source is not a step
            self._reverse.setdefault(target, []).append(source)

    @classmethod
    def from_definition(cls, definition: WorkflowDefinition) -> WorkflowGraph:
        """Build the graph of ``definition``."""
        return cls(definition)

    def get_next_steps(self, current_step: str, context: WorkflowContext) -> list[str]:
        """Return the targets of the edges from ``current_step`` that hold."""
        return [
            edge.get_target_name()
            for edge in self._forward.get(current_step, ())
            if edge.evaluate_condition(context)
        ]

    def get_previous_steps(self, current_step: str) -> list[str]:
        """Return the sources of the edges into ``current_step``."""
        return list(self._reverse.get(current_step, ()))

    def is_terminal(self, step_name: str) -> bool:
        """Return True if the step is marked terminal or has no outgoing edge."""
        return step_name in self.definition.terminal_steps or not self._forward.get(step_name)

    def validate(self) -> list[str]:
        """Return structural problems of the graph."""
        steps = self.definition.steps
        errors = []
        if self.definition.initial_step not in steps:
            errors.append(f"Initial step '{self.definition.initial_step}' not found in steps")
        for edge in self.definition.edges:
            if edge.get_source_name() not in steps:
                errors.append(f"Edge source '{edge.get_source_name()}' not found in steps")
            if edge.get_target_name() not in steps:
                errors.append(f"Edge target '{edge.get_target_name()}' not found in steps")
        depths = self._depths()
        errors.extend(
            f"Step '{name}' is unreachable from initial step"
            for name in steps
            if name not in depths
        )
        errors.extend(
            f"Step '{name}' has no outgoing edges but is not marked as terminal"
            for name in steps
            if not self._forward[name] and name not in self.definition.terminal_steps
        )
        return errors

    def get_all_paths(self, start: str, end: str, max_paths: int = 100) -> list[list[str]]:
        """Return the simple paths from ``start`` to ``end`` (at most ``max_paths``)."""
        paths: list[list[str]] = []
        stack: list[list[str]] = [[start]]
        while stack and len(paths) < max_paths:
            path = stack.pop()
            node = path[-1]
            if node == end:
                paths.append(path)
                continue
            for edge in reversed(self._forward.get(node, ())):
                target = edge.get_target_name()
                if target not in path:
                    stack.append([*path, target])
        return paths

    def get_step_depth(self, step_name: str) -> int:
        """Return the shortest number of edges from the initial step, or -1."""
        return self._depths().get(step_name, -1)

    def _depths(self) -> dict[str, int]:
        initial = self.definition.initial_step
        if initial not in self.definition.steps:
            return {}
        depths = {initial: 0}
        queue = deque([initial])
        while queue:
            node = queue.popleft()
            for edge in self._forward.get(node, ()):
                target = edge.get_target_name()
                if target not in depths:
                    depths[target] = depths[node] + 1
                    queue.append(target)
        return depths


def generate_mermaid_graph(definition: WorkflowDefinition) -> str:
    """Return the Mermaid flowchart of ``definition``."""
    return definition.to_mermaid()


def generate_mermaid_graph_with_state(
    definition: WorkflowDefinition,
    current_step: str | None = None,
    completed_steps: list[str] | None = None,
    failed_steps: list[str] | None = None,
) -> str:
    """Return the Mermaid flowchart of ``definition`` with the instance's state coloured."""
    return definition.to_mermaid_with_state(current_step, completed_steps, failed_steps)


def parse_graph_to_dict(definition: WorkflowDefinition) -> dict[str, list[dict[str, Any]]]:
    """Return ``{"nodes": [...], "edges": [...]}`` for drawing the graph in a UI."""
    nodes = [
        {
            "id": key,
            "label": key.replace("_", " ").title(),
            "type": str(getattr(step, "step_type", "machine")),
            "is_initial": key == definition.initial_step,
            "is_terminal": key in definition.terminal_steps,
        }
        for key, step in definition.steps.items()
    ]
    edges = []
    for edge in definition.edges:
        item = {"source": edge.get_source_name(), "target": edge.get_target_name()}
        label = condition_label(edge.condition)
        if label is not None:
            item["condition"] = label
        edges.append(item)
    return {"nodes": nodes, "edges": edges}
