"""WorkflowRegistry: versions (semantic "latest"), lookups, listing, unregistering."""

from __future__ import annotations

import pytest

from workflows_app import (
    BaseMachineStep,
    Edge,
    WorkflowDefinition,
    WorkflowNotFoundError,
    WorkflowRegistry,
)


class Noop(BaseMachineStep):
    async def execute(self, context):
        return None


def make_definition(name: str = "approval", version: str = "1.0.0") -> WorkflowDefinition:
    return WorkflowDefinition(
        name=name,
        version=version,
        description=f"{name} {version}",
        steps={"a": Noop(name="a"), "b": Noop(name="b")},
        edges=[Edge("a", "b")],
        initial_step="a",
        terminal_steps={"b"},
    )


def make_class(name: str = "approval", version: str = "1.0.0") -> type:
    definition = make_definition(name, version)

    class Upstream:
        @classmethod
        def get_definition(cls) -> WorkflowDefinition:
            return definition

    return Upstream


def test_registry__register_then_get_definition() -> None:
    registry = WorkflowRegistry()
    cls = make_class()
    assert registry.register(cls) is None
    definition = registry.get_definition("approval")
    assert definition is cls.get_definition()
    assert registry.get_definition("approval", "1.0.0") is definition
    assert registry.get_workflow_class("approval") is cls


def test_registry__versions_latest_and_listing__scenario_17() -> None:
    registry = WorkflowRegistry()
    v1, v2 = make_class(version="1.0.0"), make_class(version="2.0.0")
    registry.register(v1)
    registry.register(v2)
    assert registry.get_definition("approval").version == "2.0.0"
    assert registry.get_versions("approval") == ["1.0.0", "2.0.0"]
    assert [d.version for d in registry.list_definitions()] == ["2.0.0"]
    assert sorted(d.version for d in registry.list_definitions(active_only=False)) == [
        "1.0.0",
        "2.0.0",
    ]

    registry.unregister("approval", "2.0.0")
    assert registry.get_versions("approval") == ["1.0.0"]
    assert registry.get_definition("approval").version == "1.0.0"
    assert registry.has_workflow("approval")

    registry.unregister("approval", "1.0.0")
    assert registry.has_workflow("approval") is False
    with pytest.raises(KeyError):
        registry.get_workflow_class("approval")


def test_registry__latest_is_semantic_not_string_order() -> None:
    registry = WorkflowRegistry()
    registry.register_definition(make_definition(version="9.1.0"))
    registry.register_definition(make_definition(version="10.0.0"))
    assert registry.get_definition("approval").version == "10.0.0"
    assert [d.version for d in registry.list_definitions()] == ["10.0.0"]


def test_registry__release_beats_its_prerelease() -> None:
    registry = WorkflowRegistry()
    registry.register_definition(make_definition(version="2.0.0"))
    registry.register_definition(make_definition(version="2.0.0-rc.1"))
    assert registry.get_definition("approval").version == "2.0.0"


def test_registry__get_versions_sorted_semantically() -> None:
    registry = WorkflowRegistry()
    for version in ["10.0.0", "2.0.0-rc.1", "9.1.0", "2.0.0", "1.10.0", "1.9.0"]:
        registry.register_definition(make_definition(version=version))
    assert registry.get_versions("approval") == [
        "1.9.0",
        "1.10.0",
        "2.0.0-rc.1",
        "2.0.0",
        "9.1.0",
        "10.0.0",
    ]


def test_registry__unknown_name_raises_workflow_not_found_mentioning_name() -> None:
    registry = WorkflowRegistry()
    registry.register(make_class())
    with pytest.raises(WorkflowNotFoundError) as excinfo:
        registry.get_definition("no_such_flow")
    assert isinstance(excinfo.value, KeyError)
    assert "no_such_flow" in str(excinfo.value)


def test_registry__unknown_version_raises_workflow_not_found_mentioning_version() -> None:
    registry = WorkflowRegistry()
    registry.register(make_class())
    with pytest.raises(WorkflowNotFoundError) as excinfo:
        registry.get_definition("approval", "7.7.7")
    assert isinstance(excinfo.value, KeyError)
    assert "7.7.7" in str(excinfo.value)


def test_registry__get_workflow_class_unknown_raises_key_error() -> None:
    with pytest.raises(KeyError) as excinfo:
        WorkflowRegistry().get_workflow_class("ghost")
    assert "ghost" in str(excinfo.value)


def test_registry__get_versions_unknown_raises_key_error() -> None:
    with pytest.raises(KeyError):
        WorkflowRegistry().get_versions("ghost")


def test_registry__reregistering_same_version_overwrites() -> None:
    registry = WorkflowRegistry()
    first, second = make_class(), make_class()
    registry.register(first)
    registry.register(second)
    assert registry.get_versions("approval") == ["1.0.0"]
    assert registry.get_definition("approval") is second.get_definition()
    assert registry.get_workflow_class("approval") is second
    assert len(registry.list_definitions(active_only=False)) == 1


def test_registry__list_definitions_one_latest_per_name() -> None:
    registry = WorkflowRegistry()
    registry.register(make_class("alpha", "1.0.0"))
    registry.register(make_class("alpha", "1.2.0"))
    registry.register(make_class("beta", "0.1.0"))
    latest = {(d.name, d.version) for d in registry.list_definitions()}
    assert latest == {("alpha", "1.2.0"), ("beta", "0.1.0")}
    every = {(d.name, d.version) for d in registry.list_definitions(active_only=False)}
    assert every == {("alpha", "1.0.0"), ("alpha", "1.2.0"), ("beta", "0.1.0")}


def test_registry__list_definitions_empty() -> None:
    assert WorkflowRegistry().list_definitions() == []
    assert WorkflowRegistry().list_definitions(active_only=False) == []


def test_registry__unregister_all_versions_and_class() -> None:
    registry = WorkflowRegistry()
    registry.register(make_class(version="1.0.0"))
    registry.register(make_class(version="2.0.0"))
    registry.unregister("approval")
    assert registry.has_workflow("approval") is False
    assert registry.list_definitions(active_only=False) == []
    with pytest.raises(KeyError):
        registry.get_workflow_class("approval")
    with pytest.raises(WorkflowNotFoundError):
        registry.get_definition("approval")


def test_registry__unregister_unknown_is_a_no_op() -> None:
    registry = WorkflowRegistry()
    registry.register(make_class())
    registry.unregister("ghost")
    registry.unregister("ghost", "1.0.0")
    assert registry.has_workflow("approval")


def test_registry__has_workflow_with_version() -> None:
    registry = WorkflowRegistry()
    registry.register(make_class(version="1.0.0"))
    assert registry.has_workflow("approval") is True
    assert registry.has_workflow("approval", "1.0.0") is True
    assert registry.has_workflow("approval", "2.0.0") is False
    assert registry.has_workflow("ghost") is False


def test_registry__register_definition_and_has_definition() -> None:
    registry = WorkflowRegistry()
    definition = make_definition("defs_only", "3.0.0")
    registry.register_definition(definition)
    assert registry.get_definition("defs_only") is definition
    assert registry.has_definition("defs_only") is True
    assert registry.has_definition("defs_only", "3.0.0") is True
    assert registry.has_definition("defs_only", "1.0.0") is False
    assert registry.has_definition("ghost") is False


def test_registry__register_workflow_class() -> None:
    registry = WorkflowRegistry()
    cls = make_class("by_class", "1.1.0")
    registry.register_workflow_class(cls)
    assert registry.get_workflow_class("by_class") is cls
    assert registry.get_definition("by_class").version == "1.1.0"


def test_registry__last_class_registered_for_a_name_wins() -> None:
    registry = WorkflowRegistry()
    old, new = make_class(version="1.0.0"), make_class(version="2.0.0")
    registry.register(old)
    registry.register(new)
    assert registry.get_workflow_class("approval") is new


def test_registry__registries_are_independent() -> None:
    first, second = WorkflowRegistry(), WorkflowRegistry()
    first.register(make_class())
    assert second.has_workflow("approval") is False
