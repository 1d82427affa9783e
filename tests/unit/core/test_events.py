"""The 14 event dataclasses of core/events.py (construction, field order, defaults)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from workflows_app import core

NOW = datetime(2025, 1, 1, tzinfo=UTC)
IID = uuid.uuid4()
TASK = uuid.uuid4()

# (class name, required fields after instance_id/timestamp, {optional field: default})
EVENTS = [
    ("WorkflowEvent", {}, {}),
    (
        "WorkflowStarted",
        {"workflow_name": "wf", "workflow_version": "1.0.0"},
        {"initial_data": None, "user_id": None, "tenant_id": None},
    ),
    ("WorkflowCompleted", {"status": "completed"}, {"final_step": None, "duration_seconds": None}),
    (
        "WorkflowFailed",
        {"error": "boom"},
        {"failed_step": None, "error_type": None, "stack_trace": None},
    ),
    ("WorkflowCanceled", {"reason": "nope"}, {"canceled_by": None, "current_step": None}),
    ("WorkflowPaused", {}, {"reason": None, "paused_at_step": None}),
    ("WorkflowResumed", {}, {"resumed_by": None, "resuming_at_step": None}),
    ("StepStarted", {"step_name": "a", "step_type": "machine"}, {"input_data": None}),
    (
        "StepCompleted",
        {"step_name": "a", "status": "succeeded"},
        {"result": None, "output_data": None, "duration_seconds": None},
    ),
    ("StepFailed", {"step_name": "a", "error": "boom"}, {"error_type": None, "retry_count": 0}),
    ("StepSkipped", {"step_name": "a"}, {"reason": None}),
    (
        "HumanTaskCreated",
        {"step_name": "h", "task_id": TASK},
        {"assignee": None, "title": None, "description": None, "due_at": None},
    ),
    (
        "HumanTaskCompleted",
        {"step_name": "h", "task_id": TASK, "completed_by": "u1"},
        {"form_data": None, "comment": None},
    ),
    (
        "HumanTaskReassigned",
        {"step_name": "h", "task_id": TASK},
        {"from_assignee": None, "to_assignee": None, "reassigned_by": None, "reason": None},
    ),
]


@pytest.mark.parametrize(("name", "required", "optional"), EVENTS, ids=[e[0] for e in EVENTS])
def test_event__keyword_construction_and_defaults(name, required, optional) -> None:
    cls = getattr(core, name)
    event = cls(instance_id=IID, timestamp=NOW, **required)
    assert dataclasses.is_dataclass(event)
    assert event.instance_id == IID
    assert event.timestamp == NOW
    for field, value in required.items():
        assert getattr(event, field) == value
    for field, default in optional.items():
        assert getattr(event, field) == default


@pytest.mark.parametrize(("name", "required", "optional"), EVENTS, ids=[e[0] for e in EVENTS])
def test_event__field_order_is_base_then_required_then_optional(name, required, optional) -> None:
    cls = getattr(core, name)
    assert [f.name for f in dataclasses.fields(cls)] == [
        "instance_id",
        "timestamp",
        *required,
        *optional,
    ]


@pytest.mark.parametrize("name", [e[0] for e in EVENTS[1:]])
def test_event__subclasses_workflow_event(name) -> None:
    assert issubclass(getattr(core, name), core.WorkflowEvent)


def test_event__positional_construction() -> None:
    started = core.WorkflowStarted(IID, NOW, "wf", "1.0.0", {"a": 1}, "u1", "t1")
    assert (started.initial_data, started.user_id, started.tenant_id) == ({"a": 1}, "u1", "t1")
    failed = core.StepFailed(IID, NOW, "a", "boom", "RuntimeError", 2)
    assert (failed.error_type, failed.retry_count) == ("RuntimeError", 2)
