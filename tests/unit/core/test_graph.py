"""WorkflowGraph: adjacency, terminal detection, validation, paths and depth (§2.11)."""

from __future__ import annotations

import pytest

from workflows_app import BaseMachineStep, Edge, WorkflowDefinition
from workflows_app.core import WorkflowGraph


class Noop(BaseMachineStep):
    async def execute(self, context):
        return None


def defn(names, edges, initial="a", terminal=()) -> WorkflowDefinition:
    return WorkflowDefinition(
        name="g",
        version="1.0.0",
        description="d",
        steps={name: Noop(name=name) for name in names},
        edges=edges,
        initial_step=initial,
        terminal_steps=set(terminal),
    )


def diamond() -> WorkflowDefinition:
    return defn(
        ["a", "b", "c", "d"],
        [Edge("a", "b"), Edge("a", "c"), Edge("b", "d"), Edge("c", "d")],
        terminal={"d"},
    )


def test_graph__constructor_and_from_definition(kit) -> None:
    definition = diamond()
    for graph in (WorkflowGraph(definition), WorkflowGraph.from_definition(definition)):
        assert isinstance(graph, WorkflowGraph)
        assert graph.get_next_steps("a", kit.context()) == ["b", "c"]


def test_graph__next_steps_respect_conditions(kit) -> None:
    definition = defn(
        ["a", "b", "c", "d"],
        [Edge("a", "b", lambda ctx: ctx.get("x") == 1), Edge("a", "c", "x == 2"), Edge("a", "d")],
    )
    graph = WorkflowGraph(definition)
    assert graph.get_next_steps("a", kit.context({"x": 1})) == ["b", "d"]
    assert graph.get_next_steps("a", kit.context({"x": 2})) == ["c", "d"]


def test_graph__next_steps_of_unknown_step_is_empty(kit) -> None:
    assert WorkflowGraph(diamond()).get_next_steps("nope", kit.context()) == []


def test_graph__previous_steps() -> None:
    graph = WorkflowGraph(diamond())
    assert graph.get_previous_steps("d") == ["b", "c"]
    assert graph.get_previous_steps("b") == ["a"]
    assert graph.get_previous_steps("a") == []


def test_graph__is_terminal_when_listed_or_without_outgoing_edges() -> None:
    definition = defn(["a", "b", "c"], [Edge("a", "b"), Edge("b", "c")], terminal={"b"})
    graph = WorkflowGraph(definition)
    assert graph.is_terminal("a") is False
    assert graph.is_terminal("b") is True
    assert graph.is_terminal("c") is True


def test_graph__edge_from_unknown_source_raises_key_error() -> None:
    with pytest.raises(KeyError):
        WorkflowGraph(defn(["a"], [Edge("ghost", "a")]))


def test_graph__validate_valid_graph() -> None:
    assert WorkflowGraph(diamond()).validate() == []


def test_graph__validate_messages() -> None:
    definition = defn(["a", "b", "c", "d"], [Edge("a", "b"), Edge("a", "ghost")], terminal={"d"})
    assert sorted(WorkflowGraph(definition).validate()) == sorted(
        [
            "Edge target 'ghost' not found in steps",
            "Step 'c' is unreachable from initial step",
            "Step 'd' is unreachable from initial step",
            "Step 'b' has no outgoing edges but is not marked as terminal",
            "Step 'c' has no outgoing edges but is not marked as terminal",
        ]
    )


def test_graph__validate_missing_initial_step() -> None:
    errors = WorkflowGraph(defn(["a"], [], initial="nope", terminal={"a"})).validate()
    assert "Initial step 'nope' not found in steps" in errors


def test_graph__all_paths_diamond() -> None:
    assert WorkflowGraph(diamond()).get_all_paths("a", "d") == [["a", "b", "d"], ["a", "c", "d"]]


def test_graph__all_paths_with_cycle_terminates() -> None:
    definition = defn(
        ["a", "b", "c"],
        [Edge("a", "b"), Edge("b", "a"), Edge("b", "c"), Edge("a", "c")],
        terminal={"c"},
    )
    paths = WorkflowGraph(definition).get_all_paths("a", "c")
    assert sorted(paths) == [["a", "b", "c"], ["a", "c"]]


def test_graph__all_paths_max_paths() -> None:
    assert len(WorkflowGraph(diamond()).get_all_paths("a", "d", max_paths=1)) == 1


def test_graph__all_paths_none() -> None:
    assert WorkflowGraph(diamond()).get_all_paths("d", "a") == []


def test_graph__step_depth() -> None:
    definition = defn(
        ["a", "b", "c", "d", "island"],
        [Edge("a", "b"), Edge("b", "c"), Edge("c", "d"), Edge("a", "d")],
        terminal={"d", "island"},
    )
    graph = WorkflowGraph(definition)
    assert graph.get_step_depth("a") == 0
    assert graph.get_step_depth("b") == 1
    assert graph.get_step_depth("c") == 2
    assert graph.get_step_depth("d") == 1
    assert graph.get_step_depth("island") == -1
