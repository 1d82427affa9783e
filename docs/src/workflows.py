# Two ways to declare the same workflow, and what the registry does with them.
from __future__ import annotations

from workflows_app import (
    BaseMachineStep,
    Edge,
    Workflow,
    WorkflowDefinition,
    WorkflowNotFoundError,
    WorkflowRegistry,
)


class Greet(BaseMachineStep):
    name = "greet"

    def execute(self, context):
        context.set("greeting", f"Hello, {context.get('name', 'world')}!")


class Log(BaseMachineStep):
    name = "log"

    def execute(self, context):
        return context.get("greeting")


# 1. Declarative: class attributes, the definition is derived.
class Hello(Workflow):
    name = "hello"
    version = "1.0.0"
    description = "Say hello."
    steps = [Greet(), Log()]
    edges = [("greet", "log")]


# 2. litestar-workflows style: any class with a get_definition() classmethod.
class HelloV2:
    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        return WorkflowDefinition(
            name="hello",
            version="2.0.0",
            description="Say hello, version 2.",
            steps={"greet": Greet(), "log": Log()},
            edges=[Edge("greet", "log")],
            initial_step="greet",
            terminal_steps={"log"},
        )


# The registry
registry = WorkflowRegistry()
registry.register(Hello)
registry.register(HelloV2)

assert registry.get_versions("hello") == ["1.0.0", "2.0.0"]
assert registry.get_definition("hello").version == "2.0.0"  # the latest
assert registry.get_definition("hello", "1.0.0").terminal_steps == {"log"}
assert Hello.get_definition().validate() == []

try:
    registry.get_definition("goodbye")
except WorkflowNotFoundError as exc:  # also a KeyError
    assert str(exc) == "Workflow 'goodbye' not found"

print(Hello.get_definition().to_mermaid())
