"""Bad input to the engines: a clear exception, and nothing written."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from workflows_app import (
    BaseMachineStep,
    LocalExecutionEngine,
    Workflow,
    WorkflowNotFoundError,
    WorkflowRegistry,
    WorkflowValidationError,
)
from workflows_app.db import PersistentExecutionEngine
from workflows_app.models import WorkflowDefinitionModel, WorkflowInstanceModel


class Noop(BaseMachineStep):
    name = "noop"

    def execute(self, context):
        return None


class Tiny(Workflow):
    name = "tiny"
    steps = [Noop]


BAD_STARTS = [
    pytest.param(
        {"initial_data": ["not", "a", "dict"]}, "initial_data must be a dict", id="list-data"
    ),
    pytest.param({"initial_data": "x"}, "initial_data must be a dict", id="str-data"),
    pytest.param({"metadata": 3}, "metadata must be a dict", id="int-metadata"),
    pytest.param({"tenant_id": 7}, "tenant_id must be a string", id="int-tenant"),
    pytest.param({"created_by": "u" * 256}, "created_by must be at most 255", id="long-creator"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("kwargs", "message"), BAD_STARTS)
def test_start__bad_arguments_raise_and_write_nothing(kwargs, message) -> None:
    registry = WorkflowRegistry()
    registry.register(Tiny)
    with pytest.raises(WorkflowValidationError, match=message):
        PersistentExecutionEngine(registry).start_workflow_sync("tiny", **kwargs)
    assert not WorkflowInstanceModel.objects.exists()
    assert not WorkflowDefinitionModel.objects.exists()


@pytest.mark.parametrize(("kwargs", "message"), BAD_STARTS)
def test_start__bad_arguments_raise_in_memory_too(kwargs, message) -> None:
    registry = WorkflowRegistry()
    registry.register(Tiny)
    engine = LocalExecutionEngine(registry)
    with pytest.raises(WorkflowValidationError, match=message):
        asyncio.run(engine.start_workflow("tiny", **kwargs))
    assert engine.get_all_instances() == []


@pytest.mark.django_db
def test_start__data_that_is_not_json_raises_and_writes_nothing() -> None:
    registry = WorkflowRegistry()
    registry.register(Tiny)
    engine = PersistentExecutionEngine(registry)
    with pytest.raises(WorkflowValidationError, match="must be JSON"):
        engine.start_workflow_sync("tiny", {"when": datetime(2026, 1, 1)})
    assert not WorkflowInstanceModel.objects.exists()


@pytest.mark.django_db
def test_start__unknown_name_or_version_raises_and_writes_nothing() -> None:
    registry = WorkflowRegistry()
    registry.register(Tiny)
    engine = PersistentExecutionEngine(registry)
    with pytest.raises(WorkflowNotFoundError, match="'nope'"):
        engine.start_workflow_sync("nope")
    with pytest.raises(WorkflowNotFoundError, match=r"version '9\.9\.9'"):
        engine.start_workflow_sync("tiny", version="9.9.9")
    assert not WorkflowInstanceModel.objects.exists()
