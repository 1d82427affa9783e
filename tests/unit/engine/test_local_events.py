"""The duck-typed event bus and persistence hooks (scenario 21)."""

from __future__ import annotations

import uuid

import pytest

from workflows_app import Edge, LocalExecutionEngine, WorkflowInstanceNotFoundError


def workflow_events(bus):
    return [(name, kwargs) for name, kwargs in bus.events if name.startswith("workflow.")]


async def test_events__one_step_workflow__scenario_21(engine, bus, kit) -> None:
    instance = await engine.start_workflow(kit.workflow([kit.marker("only")], []))
    assert workflow_events(bus) == [
        ("workflow.started", {"instance_id": instance.id}),
        ("workflow.completed", {"instance_id": instance.id, "status": "completed"}),
    ]
    assert bus.events[0][0] == "workflow.started"
    assert bus.events[-1][0] == "workflow.completed"


async def test_events__step_events_for_each_step(engine, bus, kit) -> None:
    wf = kit.workflow([kit.marker("A"), kit.marker("B")], [Edge("A", "B")])
    instance = await engine.start_workflow(wf)
    step_events = [
        (name, kwargs["step_name"]) for name, kwargs in bus.events if name.startswith("step.")
    ]
    assert step_events == [
        ("step.started", "A"),
        ("step.completed", "A"),
        ("step.started", "B"),
        ("step.completed", "B"),
    ]
    for name, kwargs in bus.events:
        if name.startswith("step."):
            assert kwargs["instance_id"] == instance.id


async def test_events__step_events_sit_between_started_and_completed(engine, bus, kit) -> None:
    await engine.start_workflow(kit.workflow([kit.marker("A")], []))
    names = [name for name, _ in bus.events]
    assert names.index("workflow.started") < names.index("step.started")
    assert names.index("step.completed") < names.index("workflow.completed")


async def test_events__failing_step(engine, bus, kit) -> None:
    def explode(ctx):
        raise RuntimeError("bad")

    instance = await engine.start_workflow(
        kit.workflow([kit.marker("A"), kit.step("F", explode)], [Edge("A", "F")])
    )
    assert workflow_events(bus) == [
        ("workflow.started", {"instance_id": instance.id}),
        ("workflow.failed", {"instance_id": instance.id, "status": "failed"}),
    ]
    failed = bus.of("step.failed")
    assert len(failed) == 1
    assert failed[0]["step_name"] == "F"
    assert failed[0]["instance_id"] == instance.id
    assert [kw["step_name"] for kw in bus.of("step.completed")] == ["A"]


async def test_events__skipped_step(engine, bus, kit) -> None:
    instance = await engine.start_workflow(
        kit.workflow([kit.step("G", guard=lambda ctx: False)], [])
    )
    skipped = bus.of("step.skipped")
    assert [(kw["instance_id"], kw["step_name"]) for kw in skipped] == [(instance.id, "G")]
    assert bus.of("step.completed") == []
    assert bus.names("workflow.")[-1] == "workflow.completed"


async def test_events__waiting_exactly_once(engine, bus, kit) -> None:
    wf = kit.workflow(
        [kit.marker("A"), kit.human("H"), kit.marker("C")], [Edge("A", "H"), Edge("H", "C")]
    )
    instance = await engine.start_workflow(wf)
    assert bus.of("workflow.waiting") == [{"instance_id": instance.id, "step_name": "H"}]
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting"]
    await engine.complete_human_task(instance.id, "H", "u1", {})
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting", "workflow.completed"]
    assert len(bus.of("workflow.started")) == 1


async def test_events__one_started_per_start(engine, bus, kit) -> None:
    wf = kit.workflow([kit.marker("A")], [])
    first = await engine.start_workflow(wf)
    second = await engine.start_workflow(wf)
    assert bus.of("workflow.started") == [{"instance_id": first.id}, {"instance_id": second.id}]
    assert [kw["instance_id"] for kw in bus.of("workflow.completed")] == [first.id, second.id]


async def test_persistence__saved_at_start_and_after_steps__scenario_21(
    engine, persistence, kit
) -> None:
    seen_saves = {}

    def record(name):
        def body(ctx):
            seen_saves[name] = persistence.save_count

        return body

    wf = kit.workflow([kit.step("A", record("A")), kit.step("B", record("B"))], [Edge("A", "B")])
    instance = await engine.start_workflow(wf)
    assert seen_saves["A"] >= 1
    assert persistence.snapshots[0]["status"] == "running"
    assert persistence.snapshots[0]["id"] == instance.id
    assert seen_saves["B"] > seen_saves["A"]
    assert persistence.save_count > seen_saves["B"]
    assert persistence.snapshots[-1]["status"] == "completed"
    assert persistence.snapshots[-1]["history"] == ["A", "B"]


async def test_persistence__saved_when_pausing_and_after_human_completion(
    engine, persistence, kit
) -> None:
    wf = kit.workflow(
        [kit.marker("A"), kit.human("H"), kit.marker("C")], [Edge("A", "H"), Edge("H", "C")]
    )
    instance = await engine.start_workflow(wf)
    assert persistence.snapshots[-1] == {
        "id": instance.id,
        "status": "waiting",
        "current_step": "H",
        "history": ["A"],
    }
    saves = persistence.save_count
    await engine.complete_human_task(instance.id, "H", "u1", {"ok": 1})
    assert persistence.save_count > saves
    assert any(snap["history"][-1:] == ["H"] for snap in persistence.snapshots[saves:])
    assert persistence.snapshots[-1]["status"] == "completed"


async def test_persistence__saved_after_cancel(engine, persistence, kit) -> None:
    wf = kit.workflow([kit.human("H")], [])
    instance = await engine.start_workflow(wf)
    saves = persistence.save_count
    await engine.cancel_workflow(instance.id, "stop")
    assert persistence.save_count > saves
    assert persistence.snapshots[-1]["status"] == "canceled"


async def test_persistence__get_instance_falls_back_to_load_instance(
    registry, persistence, kit
) -> None:
    writer = LocalExecutionEngine(registry, persistence=persistence)
    instance = await writer.start_workflow(kit.workflow([kit.marker("A")], []))
    reader = LocalExecutionEngine(registry, persistence=persistence)
    loads = persistence.load_count
    loaded = await reader.get_instance(instance.id)
    assert loaded.id == instance.id
    assert loaded.status == "completed"
    assert persistence.load_count == loads + 1


async def test_persistence__unknown_id_after_fallback(engine, persistence) -> None:
    with pytest.raises(WorkflowInstanceNotFoundError) as excinfo:
        await engine.get_instance(uuid.uuid4())
    assert "not found" in str(excinfo.value)
    assert persistence.load_count == 1
