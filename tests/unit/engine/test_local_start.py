"""LocalExecutionEngine: what ``start_workflow`` returns, and the instances it keeps in memory.

How workflows run (scenarios 1 to 3, 13 and 14 among them) is in tests/engine_contract.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from workflows_app import (
    Edge,
    LocalExecutionEngine,
    StepStatus,
    WorkflowContext,
    WorkflowInstanceNotFoundError,
    WorkflowStatus,
)
from workflows_app.core import WorkflowInstanceData


async def test_start__returns_the_instance__scenario_1(engine, kit) -> None:
    wf = kit.workflow([kit.marker("A"), kit.marker("B")], [Edge("A", "B")])
    instance = await engine.start_workflow(wf, {"x": 1})
    assert isinstance(instance, WorkflowInstanceData)
    assert instance.status == WorkflowStatus.COMPLETED
    assert instance.status == "completed"
    assert isinstance(instance.completed_at, datetime)
    assert instance.context.data == {"x": 1, "a_done": True, "b_done": True}


async def test_start__returned_instance_matches_get_instance(engine, kit) -> None:
    wf = kit.workflow([kit.marker("A")], [])
    instance = await engine.start_workflow(wf)
    fetched = await engine.get_instance(instance.id)
    assert fetched.id == instance.id
    assert fetched.status == "completed"
    assert kit.names(fetched) == ["A"]


async def test_start__instance_fields(engine, kit) -> None:
    wf = kit.workflow([kit.marker("A")], [], name="fields", version="3.1.0")
    before = datetime.now().astimezone()
    instance = await engine.start_workflow(wf)
    assert isinstance(instance.id, uuid.UUID)
    assert instance.workflow_name == "fields"
    assert instance.workflow_version == "3.1.0"
    assert isinstance(instance.context, WorkflowContext)
    assert instance.context.instance_id == instance.id
    assert isinstance(instance.context.workflow_id, uuid.UUID)
    assert instance.started_at.tzinfo is not None
    assert before <= instance.started_at <= instance.completed_at
    assert instance.context.metadata["workflow_name"] == "fields"
    assert instance.context.metadata["workflow_version"] == "3.1.0"


async def test_start__history_records_results_and_output_data(engine, kit) -> None:
    wf = kit.workflow(
        [
            kit.step("d", lambda ctx: {"k": 1}),
            kit.step("n", lambda ctx: 42),
            kit.step("z", lambda ctx: None),
        ],
        [Edge("d", "n"), Edge("n", "z")],
    )
    instance = await engine.start_workflow(wf)
    # The in-memory history keeps what the step returned (the database keeps its JSON form,
    # {"result": 42}, and rebuilds the history from it).
    d, n, z = instance.context.step_history
    assert (d.result, d.output_data) == ({"k": 1}, {"k": 1})
    assert (n.result, n.output_data) == (42, {"result": 42})
    assert (z.result, z.output_data) == (None, None)
    for entry in (d, n, z):
        assert entry.status == StepStatus.SUCCEEDED
        assert entry.error is None
        assert entry.started_at is not None
        assert entry.completed_at is not None
        assert entry.started_at <= entry.completed_at


async def test_start__upstream_constructor_without_persistence_or_bus(bare_engine, kit) -> None:
    wf = kit.workflow([kit.marker("A"), kit.marker("B")], [Edge("A", "B")])
    instance = await bare_engine.start_workflow(wf)
    assert instance.status == "completed"
    assert (await bare_engine.get_instance(instance.id)).status == "completed"


async def test_instances__running_includes_waiting_and_all_includes_finished(engine, kit) -> None:
    done_wf = kit.workflow([kit.marker("A")], [], name="done_wf")
    wait_wf = kit.workflow([kit.marker("A"), kit.human("H")], [Edge("A", "H")], name="wait_wf")
    done = await engine.start_workflow(done_wf)
    waiting = await engine.start_workflow(wait_wf)
    assert [i.id for i in engine.get_running_instances()] == [waiting.id]
    assert {i.id for i in engine.get_all_instances()} == {done.id, waiting.id}


async def test_instances__separate_engines_do_not_share_memory(registry, kit) -> None:
    first, second = LocalExecutionEngine(registry), LocalExecutionEngine(registry)
    instance = await first.start_workflow(kit.workflow([kit.marker("A")], []))
    assert second.get_all_instances() == []
    with pytest.raises(WorkflowInstanceNotFoundError):
        await second.get_instance(instance.id)
