"""Which earlier steps a human step may send its task back to (pure rules, no database)."""

from __future__ import annotations

import itertools

import pytest

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    ExclusiveGateway,
    ParallelGateway,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowValidationError,
)
from workflows_app.core import send_back


def human(name: str, *back: str) -> BaseHumanStep:
    step = BaseHumanStep(name=name)
    step.send_back_to = list(back)
    return step


def machine(name: str) -> BaseMachineStep:
    return BaseMachineStep(name=name)


def definition(steps: list, edges: list[Edge]) -> WorkflowDefinition:
    return WorkflowDefinition(
        name="wf",
        version="1.0.0",
        description="",
        steps={step.name: step for step in steps},
        edges=edges,
        initial_step=steps[0].name,
    )


def test_path__a_straight_line_and_an_exclusive_choice_are_one_branch() -> None:
    choice = ExclusiveGateway(name="G", condition=lambda ctx: "B")
    defn = definition(
        [machine("A"), choice, human("B"), machine("C"), human("R")],
        [Edge("A", "G"), Edge("G", "B"), Edge("G", "C"), Edge("B", "R"), Edge("C", "R")],
    )
    # R is where the two choices meet: it joins, so nothing before it is on its branch
    assert "parallel split or join" in send_back.path_problem(defn, "R", "B")
    straight = definition(
        [machine("A"), choice, human("B"), machine("C")],
        [Edge("A", "G"), Edge("G", "B"), Edge("G", "C", condition="x == 1"), Edge("B", "C")],
    )
    assert send_back.path_problem(straight, "B", "A") is None  # across the choice
    assert send_back.path_problem(straight, "B", "G") is None


def test_path__not_across_a_fork_nor_a_join() -> None:
    fork = ParallelGateway(name="S", branches=["B1", "B2"])
    defn = definition(
        [machine("A"), fork, machine("B1"), human("H1"), machine("B2"), human("J")],
        [Edge("A", "S"), Edge("B1", "H1"), Edge("H1", "J"), Edge("B2", "J")],
    )
    assert send_back.path_problem(defn, "H1", "B1") is None
    assert "parallel split or join" in send_back.path_problem(defn, "H1", "S")
    assert "parallel split or join" in send_back.path_problem(defn, "H1", "A")
    assert "parallel split or join" in send_back.path_problem(defn, "J", "H1")
    assert "not an earlier step" in send_back.path_problem(defn, "B1", "H1")
    assert "itself" in send_back.path_problem(defn, "H1", "H1")
    # two unconditional edges out of one step fan out just the same
    edges = [Edge("A", "B1"), Edge("A", "B2"), Edge("B1", "H1")]
    plain = definition([machine("A"), machine("B1"), human("H1"), machine("B2")], edges)
    assert "parallel split or join" in send_back.path_problem(plain, "H1", "A")


def test_path__a_loop_back_edge_makes_no_join() -> None:
    defn = definition(
        [machine("A"), human("W"), human("R")],
        [Edge("A", "W"), Edge("W", "R"), Edge("R", "W", condition="again")],
    )
    assert send_back.path_problem(defn, "R", "A") is None
    assert send_back.path_problem(defn, "R", "W") is None


def test_problem__the_step_must_list_the_target() -> None:
    defn = definition([machine("A"), human("W"), human("R", "W")], [Edge("A", "W"), Edge("W", "R")])
    assert send_back.problem(defn, "R", "W") is None
    assert "may send back only to 'W', not to 'A'" in send_back.problem(defn, "R", "A")
    assert "allows no send back" in send_back.problem(defn, "W", "A")
    assert "not a step of workflow 'wf'" in send_back.problem(defn, "R", "Z")


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([machine("A"), human("W", "Z")], "send_back_to names unknown step 'Z'"),
        ([machine("A"), human("W", "W")], "cannot send back to itself"),
        ([human("W"), human("R", "A"), machine("A")], "not an earlier step"),
    ],
)
def test_registry__refuses_a_wrong_send_back_to(steps, message) -> None:
    names = [step.name for step in steps]
    edges = [Edge(a, b) for a, b in itertools.pairwise(names)]
    with pytest.raises(WorkflowValidationError, match=message):
        WorkflowRegistry().register_definition(definition(steps, edges))


def test_registry__refuses_send_back_to_on_a_machine_step_or_as_a_string() -> None:
    step = machine("B")
    step.send_back_to = ["A"]
    with pytest.raises(WorkflowValidationError, match="only a human step"):
        WorkflowRegistry().register_definition(definition([machine("A"), step], [Edge("A", "B")]))
    text = human("B")
    text.send_back_to = "A"
    with pytest.raises(WorkflowValidationError, match="must be a list of step names"):
        WorkflowRegistry().register_definition(definition([machine("A"), text], [Edge("A", "B")]))
