"""Bad input to the engines: a clear exception, and nothing written."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from tests.integration.helpers import Edge, human, tasks, workflow
from workflows_app import (
    BaseMachineStep,
    LocalExecutionEngine,
    Workflow,
    WorkflowNotFoundError,
    WorkflowRegistry,
    WorkflowValidationError,
)
from workflows_app.core.metadata import RESERVED
from workflows_app.db import PersistentExecutionEngine
from workflows_app.engine import semantics
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
    pytest.param(
        {"metadata": {"suspensions": "x"}},
        r"metadata\.suspensions: 'suspensions' is reserved",
        id="reserved-metadata-key",
    ),
    pytest.param(
        {"metadata": {"ok": 1, "withdrawn": [], "migrations": {}}},
        r"metadata\.migrations: .*; metadata\.withdrawn: ",
        id="reserved-metadata-keys",
    ),
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


@pytest.mark.parametrize("key", RESERVED)
def test_start__each_reserved_metadata_key_is_refused(key) -> None:
    with pytest.raises(WorkflowValidationError) as caught:
        semantics.check_start_arguments({}, {key: None, "mine": 1})
    assert caught.value.errors == [
        f"metadata.{key}: '{key}' is reserved for the engine's records and cannot be given"
    ]


@pytest.mark.django_db
def test_reserved_metadata_keys__cover_what_the_engine_records() -> None:
    """Suspend, resume, send back and withdraw one instance: every key the engine added to
    its metadata is reserved (and the caller's own key is kept)."""
    review = human("Review")
    review.send_back_to = ["Draft"]
    wf = workflow([human("Draft"), review], [Edge("Draft", "Review")])
    engine = PersistentExecutionEngine(WorkflowRegistry())
    started = engine.start_workflow_sync(wf, created_by="ann", metadata={"mine": 1})
    engine.suspend_sync(started.id, "hold", "ops")
    engine.resume_sync(started.id, "ops")
    [draft] = tasks(started.id, "Draft")
    engine.complete_task_sync(draft.pk, "bob", {})
    [review_task] = tasks(started.id, "Review")
    engine.send_back_sync(review_task.pk, "Draft", "again", "cat")
    other = engine.start_workflow_sync(wf, created_by="ann", metadata={"mine": 2})
    engine.withdraw_sync(other.id, "ann")
    added = set()
    for row in WorkflowInstanceModel.objects.all():
        assert row.metadata["mine"] in (1, 2)
        added |= set(row.metadata) - {"workflow_name", "workflow_version", "mine"}
    assert added == {"suspensions", "sent_back", "withdrawn"}
    assert added <= set(RESERVED)
