"""Human steps: pause, resume, completion errors and form-schema validation (scenarios 8 to 11)."""

from __future__ import annotations

import copy
import uuid

import pytest

from workflows_app import (
    BaseHumanStep,
    Edge,
    Workflow,
    WorkflowInstanceNotFoundError,
    WorkflowValidationError,
)
from workflows_app.exceptions import TaskValidationError, WorkflowStateError

SCHEMA = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean"},
        "amount": {"type": "number", "minimum": 0},
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"qty": {"type": "integer"}}},
        },
    },
    "required": ["approved"],
}


def approval_workflow(kit, form_schema=SCHEMA):
    a, c = kit.marker("A"), kit.marker("C")
    wf = kit.workflow(
        [a, kit.human("H", title="Approve", form_schema=form_schema), c],
        [Edge("A", "H"), Edge("H", "C")],
        terminal={"C"},
    )
    return wf, a, c


async def test_human__pause__scenario_8(engine, bus, kit) -> None:
    wf, _, c = approval_workflow(kit)
    instance = await engine.start_workflow(wf, {"x": 1})
    assert instance.status == "waiting"
    assert instance.current_step == "H"
    assert instance.completed_at is None
    assert kit.names(instance) == ["A"]
    assert c.calls == 0
    assert bus.of("workflow.waiting") == [{"instance_id": instance.id, "step_name": "H"}]
    assert bus.of("workflow.completed") == []
    fetched = await engine.get_instance(instance.id)
    assert (fetched.status, fetched.current_step) == ("waiting", "H")


async def test_human__resume__scenario_9(engine, bus, kit) -> None:
    wf, _, c = approval_workflow(kit)
    started = await engine.start_workflow(wf, {"x": 1})
    await engine.complete_human_task(started.id, "H", "u1", {"approved": True})

    instance = await engine.get_instance(started.id)
    assert instance.status == "completed"
    assert instance.current_step is None
    assert instance.completed_at is not None
    assert instance.context.data == {"x": 1, "a_done": True, "approved": True, "c_done": True}
    assert instance.context.user_id == "u1"
    assert kit.names(instance) == ["A", "H", "C"]
    human_entry = instance.context.step_history[1]
    assert human_entry.status == "succeeded"
    assert human_entry.result == {"approved": True}
    assert human_entry.output_data == {"approved": True}
    assert c.calls == 1
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting", "workflow.completed"]


async def test_human__resume_into_another_human_step(engine, bus, kit) -> None:
    wf = kit.workflow(
        [kit.human("first"), kit.human("second"), kit.marker("end")],
        [Edge("first", "second"), Edge("second", "end")],
    )
    started = await engine.start_workflow(wf)
    assert (started.status, started.current_step) == ("waiting", "first")
    await engine.complete_human_task(started.id, "first", "u1", {"one": 1})
    middle = await engine.get_instance(started.id)
    assert (middle.status, middle.current_step) == ("waiting", "second")
    await engine.complete_human_task(started.id, "second", "u2", {"two": 2})
    done = await engine.get_instance(started.id)
    assert done.status == "completed"
    assert done.context.user_id == "u2"
    assert kit.names(done) == ["first", "second", "end"]
    assert [kw["step_name"] for kw in bus.of("workflow.waiting")] == ["first", "second"]


async def test_human__without_outgoing_edge_completes(engine, kit) -> None:
    wf = kit.workflow([kit.marker("A"), kit.human("H")], [Edge("A", "H")])
    started = await engine.start_workflow(wf)
    await engine.complete_human_task(started.id, "H", "u1", {"ok": True})
    instance = await engine.get_instance(started.id)
    assert instance.status == "completed"
    assert kit.names(instance) == ["A", "H"]


async def test_human__first_step_can_be_human(engine, kit) -> None:
    wf = kit.workflow([kit.human("H"), kit.marker("B")], [Edge("H", "B")])
    started = await engine.start_workflow(wf)
    assert (started.status, started.current_step) == ("waiting", "H")
    assert kit.names(started) == []


async def test_human__complete_when_not_waiting__scenario_10(engine, kit) -> None:
    done = await engine.start_workflow(kit.workflow([kit.marker("A")], []))
    with pytest.raises(WorkflowStateError) as excinfo:
        await engine.complete_human_task(done.id, "A", "u1", {})
    assert isinstance(excinfo.value, ValueError)
    assert "is not waiting" in str(excinfo.value)


async def test_human__complete_twice_raises_not_waiting(engine, kit) -> None:
    wf, _, c = approval_workflow(kit)
    started = await engine.start_workflow(wf)
    await engine.complete_human_task(started.id, "H", "u1", {"approved": True})
    with pytest.raises(ValueError) as excinfo:
        await engine.complete_human_task(started.id, "H", "u2", {"approved": False})
    assert "is not waiting" in str(excinfo.value)
    instance = await engine.get_instance(started.id)
    assert instance.context.get("approved") is True
    assert instance.context.user_id == "u1"
    assert c.calls == 1


async def test_human__complete_wrong_step__scenario_10(engine, kit) -> None:
    wf, _, _ = approval_workflow(kit)
    started = await engine.start_workflow(wf)
    with pytest.raises(WorkflowStateError) as excinfo:
        await engine.complete_human_task(started.id, "wrong_step", "u1", {"approved": True})
    assert isinstance(excinfo.value, ValueError)
    assert "waiting at step 'H'" in str(excinfo.value)
    instance = await engine.get_instance(started.id)
    assert (instance.status, instance.current_step) == ("waiting", "H")
    assert "approved" not in instance.context.data


async def test_human__complete_unknown_instance(engine) -> None:
    with pytest.raises(WorkflowInstanceNotFoundError):
        await engine.complete_human_task(uuid.uuid4(), "H", "u1", {})


async def test_human__condition_after_human_uses_submitted_data__scenario_11(engine, kit) -> None:
    approve, reject = kit.marker("approve"), kit.marker("reject")
    wf = kit.workflow(
        [kit.human("H"), approve, reject],
        [
            Edge("H", "approve", lambda ctx: ctx.get("approved") is True),
            Edge("H", "reject", lambda ctx: ctx.get("approved") is False),
        ],
    )
    started = await engine.start_workflow(wf)
    await engine.complete_human_task(started.id, "H", "u1", {"approved": False})
    instance = await engine.get_instance(started.id)
    assert instance.status == "completed"
    assert kit.names(instance) == ["H", "reject"]
    assert approve.calls == 0


async def test_human__string_condition_after_human(engine, kit) -> None:
    approve, reject = kit.marker("approve"), kit.marker("reject")
    wf = kit.workflow(
        [kit.human("H"), approve, reject],
        [Edge("H", "approve", "approved"), Edge("H", "reject", "not approved")],
    )
    started = await engine.start_workflow(wf)
    await engine.complete_human_task(started.id, "H", "u1", {"approved": True})
    instance = await engine.get_instance(started.id)
    assert kit.names(instance) == ["H", "approve"]
    assert reject.calls == 0


async def test_human__invalid_form_data_changes_nothing(engine, persistence, bus, kit) -> None:
    wf, _, c = approval_workflow(kit)
    started = await engine.start_workflow(wf, {"x": 1})
    before = await engine.get_instance(started.id)
    data_before = copy.deepcopy(before.context.data)
    saves_before, events_before = persistence.save_count, list(bus.events)

    with pytest.raises(TaskValidationError) as excinfo:
        await engine.complete_human_task(
            started.id, "H", "u1", {"amount": "lots", "items": [{"qty": "x"}]}
        )

    error = excinfo.value
    assert isinstance(error, WorkflowValidationError)
    assert len(error.errors) == 3
    # A missing required property is reported under the property's own path.
    assert set(error.field_errors) == {"amount", "items/0/qty", "approved"}
    assert all(
        isinstance(messages, list) and len(messages) == 1
        for messages in error.field_errors.values()
    )

    after = await engine.get_instance(started.id)
    assert after.status == "waiting"
    assert after.current_step == "H"
    assert after.context.data == data_before
    assert after.context.user_id is None
    assert kit.names(after) == ["A"]
    assert c.calls == 0
    assert persistence.save_count == saves_before
    assert bus.events == events_before


async def test_human__valid_form_data_after_invalid_attempt_completes(engine, kit) -> None:
    wf, _, _ = approval_workflow(kit)
    started = await engine.start_workflow(wf)
    with pytest.raises(TaskValidationError):
        await engine.complete_human_task(started.id, "H", "u1", {"approved": "yes"})
    await engine.complete_human_task(
        started.id, "H", "u1", {"approved": True, "amount": 10, "items": [{"qty": 2}]}
    )
    instance = await engine.get_instance(started.id)
    assert instance.status == "completed"
    assert instance.context.get("items") == [{"qty": 2}]


async def test_human__single_field_error(engine, kit) -> None:
    wf, _, _ = approval_workflow(kit)
    started = await engine.start_workflow(wf)
    with pytest.raises(TaskValidationError) as excinfo:
        await engine.complete_human_task(started.id, "H", "u1", {"approved": True, "amount": -5})
    assert len(excinfo.value.errors) == 1
    assert list(excinfo.value.field_errors) == ["amount"]
    assert len(excinfo.value.field_errors["amount"]) == 1


async def test_human__root_level_error_is_keyed_by_empty_path(engine, kit) -> None:
    schema = {"type": "object", "maxProperties": 1, "properties": {"n": {"type": "integer"}}}
    wf, _, _ = approval_workflow(kit, form_schema=schema)
    started = await engine.start_workflow(wf)
    with pytest.raises(TaskValidationError) as excinfo:
        await engine.complete_human_task(started.id, "H", "u1", {"n": "one", "m": 2})
    assert set(excinfo.value.field_errors) == {"", "n"}
    assert len(excinfo.value.errors) == 2
    assert (await engine.get_instance(started.id)).status == "waiting"


async def test_human__no_form_schema_accepts_any_data(engine, kit) -> None:
    wf, _, _ = approval_workflow(kit, form_schema=None)
    started = await engine.start_workflow(wf)
    await engine.complete_human_task(started.id, "H", "u1", {"anything": [1, 2]})
    assert (await engine.get_instance(started.id)).status == "completed"


async def test_human__declarative_workflow_with_class_attribute_human_step(engine, kit) -> None:
    class Review(BaseHumanStep):
        name = "review"
        title = "Review"
        form_schema = {
            "type": "object",
            "required": ["approved"],
            "properties": {"approved": {"type": "boolean"}},
        }

    class ReviewFlow(Workflow):
        name = "review_flow"
        version = "1.0.0"
        description = "d"
        steps = [kit.marker("submit"), Review(), kit.marker("publish")]
        edges = [("submit", "review"), ("review", "publish", "approved")]

    started = await engine.start_workflow(ReviewFlow)
    assert (started.status, started.current_step) == ("waiting", "review")
    with pytest.raises(TaskValidationError):
        await engine.complete_human_task(started.id, "review", "u1", {})
    await engine.complete_human_task(started.id, "review", "u1", {"approved": True})
    instance = await engine.get_instance(started.id)
    assert instance.status == "completed"
    assert kit.names(instance) == ["submit", "review", "publish"]
