"""LocalExecutionEngine's duck-typed persistence hook (scenario 21).

What a workflow does is the same on every engine (tests/engine_contract); this is what only
the in-memory engine has: it saves through ``save_instance`` and reads back through
``load_instance`` of any object handed to it.
"""

from __future__ import annotations

import uuid

import pytest

from workflows_app import Edge, LocalExecutionEngine, WorkflowInstanceNotFoundError
from workflows_app.exceptions import TaskValidationError


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


async def test_persistence__invalid_form_data_saves_nothing(engine, persistence, kit) -> None:
    schema = {"type": "object", "required": ["approved"]}
    wf = kit.workflow([kit.human("H", form_schema=schema)], [])
    instance = await engine.start_workflow(wf)
    saves = persistence.save_count
    with pytest.raises(TaskValidationError):
        await engine.complete_human_task(instance.id, "H", "u1", {})
    assert persistence.save_count == saves


async def test_persistence__saved_after_cancel(engine, persistence, kit) -> None:
    wf = kit.workflow([kit.human("H")], [])
    instance = await engine.start_workflow(wf)
    saves = persistence.save_count
    await engine.cancel_workflow(instance.id, "stop")
    assert persistence.save_count > saves
    assert persistence.snapshots[-1]["status"] == "canceled"


async def test_persistence__saved_after_retry(engine, persistence, kit) -> None:
    attempts = []

    def flaky(ctx):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")

    failed = await engine.start_workflow(kit.workflow([kit.step("F", flaky)], []))
    saves = persistence.save_count
    await engine.retry(failed.id)
    assert persistence.save_count > saves
    assert persistence.snapshots[-1]["status"] == "completed"


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
