"""The declarative ``Workflow`` base class (our addition; upstream only documents the style)."""

from __future__ import annotations

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    Workflow,
    WorkflowDefinition,
    WorkflowRegistry,
)


class Submit(BaseMachineStep):
    name = "submit"
    description = "Submit the request"

    async def execute(self, context):
        context.set("submitted", True)


class Review(BaseHumanStep):
    name = "review"
    title = "Review the request"


class Done(BaseMachineStep):
    name = "done"

    def execute(self, context):
        return "done"


class Reject(BaseMachineStep):
    name = "reject"

    def execute(self, context):
        return "rejected"


class Approval(Workflow):
    name = "approval"
    version = "1.0.0"
    description = "Approve a request"
    steps = [Submit(), Review(), Done()]
    edges = [Edge("submit", "review"), ("review", "done")]


def test_workflow__get_definition_returns_a_workflow_definition() -> None:
    definition = Approval.get_definition()
    assert isinstance(definition, WorkflowDefinition)
    assert definition.name == "approval"
    assert definition.version == "1.0.0"
    assert definition.description == "Approve a request"


def test_workflow__steps_keyed_by_step_name_in_declaration_order() -> None:
    definition = Approval.get_definition()
    assert list(definition.steps) == ["submit", "review", "done"]
    assert isinstance(definition.steps["submit"], Submit)
    assert isinstance(definition.steps["review"], Review)
    assert definition.steps["review"].title == "Review the request"


def test_workflow__tuples_become_edges() -> None:
    definition = Approval.get_definition()
    assert definition.edges == [Edge("submit", "review"), Edge("review", "done")]
    assert all(isinstance(edge, Edge) for edge in definition.edges)


def test_workflow__initial_defaults_to_first_step_and_terminal_to_steps_without_outgoing_edges() -> (
    None
):
    definition = Approval.get_definition()
    assert definition.initial_step == "submit"
    assert definition.terminal_steps == {"done"}
    assert definition.validate() == []


def test_workflow__three_tuple_carries_a_condition(kit) -> None:
    def is_rejected(ctx):
        return ctx.get("approved") is False

    class Branching(Workflow):
        name = "branching"
        version = "1.0.0"
        description = "d"
        steps = [Submit(), Review(), Done(), Reject()]
        edges = [
            ("submit", "review"),
            ("review", "done", "approved"),
            ("review", "reject", is_rejected),
        ]

    definition = Branching.get_definition()
    assert definition.edges[1] == Edge("review", "done", "approved")
    assert definition.edges[2].condition is is_rejected
    assert definition.terminal_steps == {"done", "reject"}
    assert definition.get_next_steps("review", kit.context({"approved": True})) == ["done"]
    assert definition.get_next_steps("review", kit.context({"approved": False})) == ["reject"]


def test_workflow__step_classes_in_the_list_are_instantiated() -> None:
    class ByClass(Workflow):
        name = "by_class"
        version = "1.0.0"
        description = "d"
        steps = [Submit, Done]
        edges = [("submit", "done")]

    definition = ByClass.get_definition()
    assert isinstance(definition.steps["submit"], Submit)
    assert isinstance(definition.steps["done"], Done)
    assert definition.steps["submit"].description == "Submit the request"


def test_workflow__explicit_initial_and_terminal_steps_win() -> None:
    class Explicit(Workflow):
        name = "explicit"
        version = "2.0.0"
        description = "d"
        steps = [Done(), Submit(), Review()]
        edges = [("submit", "review"), ("review", "done")]
        initial_step = "submit"
        terminal_steps = {"review", "done"}

    definition = Explicit.get_definition()
    assert definition.initial_step == "submit"
    assert definition.terminal_steps == {"review", "done"}


def test_workflow__registers_by_class() -> None:
    registry = WorkflowRegistry()
    registry.register(Approval)
    assert registry.get_definition("approval").version == "1.0.0"
    assert registry.get_workflow_class("approval") is Approval


def test_workflow__subclasses_do_not_share_definitions() -> None:
    class Other(Workflow):
        name = "other"
        version = "1.0.0"
        description = "d"
        steps = [Done()]
        edges = []

    assert list(Other.get_definition().steps) == ["done"]
    assert Other.get_definition().initial_step == "done"
    assert Other.get_definition().terminal_steps == {"done"}
    assert list(Approval.get_definition().steps) == ["submit", "review", "done"]
