"""LocalExecutionEngine: starting workflows and straight-line runs (scenarios 1 to 3, 13, 14)."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from workflows_app import (
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    StepStatus,
    Workflow,
    WorkflowContext,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowStatus,
)
from workflows_app.core import WorkflowInstanceData


async def test_start__linear_run__scenario_1(engine, kit) -> None:
    wf = kit.workflow(
        [kit.marker("A"), kit.marker("B"), kit.marker("C")],
        [Edge("A", "B"), Edge("B", "C")],
        terminal={"C"},
    )
    instance = await engine.start_workflow(wf, {"x": 1})

    assert isinstance(instance, WorkflowInstanceData)
    assert instance.status == WorkflowStatus.COMPLETED
    assert instance.status == "completed"
    assert isinstance(instance.completed_at, datetime)
    assert instance.current_step is None
    assert instance.error is None
    assert kit.names(instance) == ["A", "B", "C"]
    assert kit.statuses(instance) == ["succeeded", "succeeded", "succeeded"]
    assert [entry.result for entry in instance.context.step_history] == [
        {"s": "A"},
        {"s": "B"},
        {"s": "C"},
    ]
    assert instance.context.data == {"x": 1, "a_done": True, "b_done": True, "c_done": True}


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


async def test_start__without_initial_data_starts_with_empty_dict(engine, kit) -> None:
    seen = {}
    wf = kit.workflow([kit.step("A", lambda ctx: seen.update(data=dict(ctx.data)))], [])
    await engine.start_workflow(wf)
    assert seen["data"] == {}


async def test_start__each_start_is_a_new_instance(engine, kit) -> None:
    wf = kit.workflow([kit.marker("A")], [])
    first = await engine.start_workflow(wf, {"n": 1})
    second = await engine.start_workflow(wf, {"n": 2})
    assert first.id != second.id
    assert first.context.get("n") == 1
    assert second.context.get("n") == 2


async def test_start__terminal_step_executes__scenario_2(engine, kit) -> None:
    after = kit.marker("after")
    wf = kit.workflow(
        [kit.marker("A"), kit.marker("B"), after],
        [Edge("A", "B"), Edge("B", "after")],
        terminal={"B"},
    )
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert instance.context.get("b_done") is True
    assert kit.names(instance) == ["A", "B"]
    assert after.calls == 0


async def test_start__implicit_end__scenario_3(engine, kit) -> None:
    only = kit.marker("only")
    instance = await engine.start_workflow(kit.workflow([only], []))
    assert instance.status == "completed"
    assert only.calls == 1
    assert kit.names(instance) == ["only"]


async def test_start__all_conditions_false_completes(engine, kit) -> None:
    nxt = kit.marker("next")
    wf = kit.workflow([kit.marker("A"), nxt], [Edge("A", "next", lambda ctx: False)])
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert kit.names(instance) == ["A"]
    assert nxt.calls == 0


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


async def test_start__step_return_values_are_not_merged_into_data(engine, kit) -> None:
    wf = kit.workflow([kit.step("A", lambda ctx: {"secret": 1})], [])
    instance = await engine.start_workflow(wf, {"x": 1})
    assert instance.context.data == {"x": 1}


async def test_start__tenant_and_created_by_reach_the_context(engine, kit) -> None:
    seen = {}

    def look(ctx):
        seen["tenant"] = ctx.tenant_id
        seen["user"] = ctx.user_id

    wf = kit.workflow([kit.step("A", look)], [])
    instance = await engine.start_workflow(wf, {"x": 1}, tenant_id="t1", created_by="u1")
    assert seen == {"tenant": "t1", "user": "u1"}
    assert instance.context.tenant_id == "t1"
    assert instance.context.user_id == "u1"


async def test_start__metadata_is_added_to_context_metadata(engine, kit) -> None:
    wf = kit.workflow([kit.marker("A")], [], name="meta")
    instance = await engine.start_workflow(wf, metadata={"source": "api", "ticket": 7})
    assert instance.context.metadata["source"] == "api"
    assert instance.context.metadata["ticket"] == 7
    assert instance.context.metadata["workflow_name"] == "meta"


async def test_start__by_registered_name_uses_latest_version(engine, registry, kit) -> None:
    old = kit.workflow([kit.marker("old_step")], [], name="named", version="1.0.0")
    new = kit.workflow([kit.marker("new_step")], [], name="named", version="1.10.0")
    registry.register(old)
    registry.register(new)
    instance = await engine.start_workflow("named", {"x": 1})
    assert instance.workflow_version == "1.10.0"
    assert kit.names(instance) == ["new_step"]
    assert instance.status == "completed"


async def test_start__by_name_and_version(engine, registry, kit) -> None:
    registry.register(kit.workflow([kit.marker("old_step")], [], name="named", version="1.0.0"))
    registry.register(kit.workflow([kit.marker("new_step")], [], name="named", version="2.0.0"))
    instance = await engine.start_workflow("named", version="1.0.0")
    assert instance.workflow_version == "1.0.0"
    assert kit.names(instance) == ["old_step"]


async def test_start__unknown_name_raises_workflow_not_found(engine) -> None:
    with pytest.raises(WorkflowNotFoundError) as excinfo:
        await engine.start_workflow("no_such_workflow")
    assert "no_such_workflow" in str(excinfo.value)
    assert isinstance(excinfo.value, KeyError)
    assert engine.get_all_instances() == []


async def test_start__unknown_version_raises_workflow_not_found(engine, registry, kit) -> None:
    registry.register(kit.workflow([kit.marker("A")], [], name="named", version="1.0.0"))
    with pytest.raises(WorkflowNotFoundError) as excinfo:
        await engine.start_workflow("named", version="9.9.9")
    assert "9.9.9" in str(excinfo.value)


async def test_start__unregistered_class_is_accepted(engine, registry, kit) -> None:
    wf = kit.workflow([kit.marker("A")], [], name="not_registered")
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"


async def test_start__declarative_workflow_class(engine) -> None:
    class Fetch(BaseMachineStep):
        name = "fetch"

        def execute(self, context):
            context.set("fetched", context.get("n") * 2)
            return context.get("fetched")

    class Store(BaseMachineStep):
        name = "store"

        async def execute(self, context):
            context.set("stored", True)

    class Pipeline(Workflow):
        name = "pipeline"
        version = "1.0.0"
        description = "fetch then store"
        steps = [Fetch(), Store()]
        edges = [("fetch", "store")]

    instance = await engine.start_workflow(Pipeline, {"n": 21})
    assert instance.status == "completed"
    assert instance.workflow_name == "pipeline"
    assert instance.context.data == {"n": 21, "fetched": 42, "stored": True}
    assert [e.step_name for e in instance.context.step_history] == ["fetch", "store"]
    assert instance.context.step_history[0].output_data == {"result": 42}


async def test_start__upstream_constructor_without_persistence_or_bus(bare_engine, kit) -> None:
    wf = kit.workflow([kit.marker("A"), kit.marker("B")], [Edge("A", "B")])
    instance = await bare_engine.start_workflow(wf)
    assert instance.status == "completed"
    assert (await bare_engine.get_instance(instance.id)).status == "completed"


async def test_start__sync_execute_steps_run(engine, kit) -> None:
    class Plain(BaseMachineStep):
        def execute(self, context):
            context.set(f"{self.name}_plain", True)
            return self.name

    wf = kit.workflow([Plain(name="p1"), Plain(name="p2")], [Edge("p1", "p2")])
    instance = await engine.start_workflow(wf)
    assert instance.status == "completed"
    assert instance.context.data == {"p1_plain": True, "p2_plain": True}
    assert [e.result for e in instance.context.step_history] == ["p1", "p2"]


async def test_start__missing_step_at_runtime__scenario_14(engine, kit) -> None:
    wf = kit.workflow([kit.marker("A")], [Edge("A", "ghost")])
    instance = await engine.start_workflow(wf)
    assert instance.status == "failed"
    assert "not found in definition" in instance.error
    assert "ghost" in instance.error
    assert instance.completed_at is not None
    assert kit.names(instance) == ["A"]


async def test_get_instance__unknown_id__scenario_13(engine) -> None:
    missing = uuid.uuid4()
    with pytest.raises(WorkflowInstanceNotFoundError) as excinfo:
        await engine.get_instance(missing)
    assert isinstance(excinfo.value, KeyError)
    assert "not found" in str(excinfo.value)
    assert str(missing) in str(excinfo.value)


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
