"""The event dataclasses of core/events.py (construction, field order, defaults), and
:data:`BY_EVENT`, which names one for each event the engines send."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from workflows_app import core

NOW = datetime(2025, 1, 1, tzinfo=UTC)
IID = uuid.uuid4()
TASK = uuid.uuid4()
EVENT_NAME = re.compile(r'"((?:workflow|step|task|timer|webhook|message|subworkflow)\.[a-z_]+)"')
# Any ("kind.name", payload) literal, whatever its kind: a new kind of event is found too.
EVENT_TUPLE = re.compile(r'\(\s*"([a-z_]+\.[a-z_]+)",')

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
    ("WorkflowWaiting", {"step_name": "h"}, {}),
    ("WorkflowRetried", {"step_name": "a"}, {}),
    (
        "WorkflowMigrated",
        {"workflow": "wf", "from_version": "1", "to_version": "2"},
        {"mapping": {}, "migrated_by": None},
    ),
    ("WorkflowSuspended", {"reason": "incident"}, {"suspended_by": None}),
    (
        "WorkflowSentBack",
        {"task_id": TASK, "from_step": "b", "to_step": "a", "reason": "redo"},
        {"sent_back_by": None},
    ),
    ("WorkflowWithdrawn", {"reason": "withdrawn by ann", "withdrawn_by": "ann"}, {}),
    ("WorkflowCompensating", {"cause": "failed"}, {"steps": []}),
    ("WorkflowCompensationRetried", {}, {}),
    ("StepCompensated", {"step_name": "a"}, {}),
    ("StepCompensationFailed", {"step_name": "a"}, {"error": None, "attempt": 1}),
    ("StepRetryScheduled", {"step_name": "a", "attempt": 2}, {"due_at": None}),
    ("StepEscalated", {"step_name": "h", "goto": "boss"}, {}),
    ("TimerStarted", {"step_name": "t"}, {"due_at": None}),
    ("WebhookWaiting", {"step_name": "w", "callback_token": "tok"}, {}),
    ("MessageWaiting", {"step_name": "m", "message_name": "paid"}, {"correlation_key": None}),
    (
        "MessageDelivered",
        {"step_name": "m", "name": "paid"},
        {"correlation_key": None, "message_id": None},
    ),
    (
        "MessageBuffered",
        {"name": "paid"},
        {"correlation_key": None, "message_id": None, "tenant_id": None, "expires_at": None},
    ),
    (
        "HumanTaskReminder",
        {"step_name": "h", "task_id": TASK},
        {"assignee_id": None, "assignee_group": None, "recipients": []},
    ),
    (
        "HumanTaskOverdue",
        {"step_name": "h", "task_id": TASK},
        {"assignee_id": None, "assignee_group": None, "due_at": None},
    ),
    (
        "HumanTaskClaimed",
        {"step_name": "h", "task_id": TASK},
        {
            "from_assignee": None,
            "to_assignee": None,
            "from_group": None,
            "to_group": None,
            "claimed_by": None,
        },
    ),
    (
        "HumanTaskReleased",
        {"step_name": "h", "task_id": TASK},
        {
            "from_assignee": None,
            "to_assignee": None,
            "from_group": None,
            "to_group": None,
            "released_by": None,
        },
    ),
    (
        "HumanTaskDelegated",
        {"step_name": "h", "task_id": TASK, "owner": "ann", "delegate": "bob"},
        {"delegated_by": None},
    ),
    (
        "HumanTaskResolved",
        {"step_name": "h", "task_id": TASK, "owner": "ann", "delegate": "bob"},
        {"draft": None},
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


def test_by_event__a_dataclass_for_every_event_the_engines_send() -> None:
    """Every event name in the engine's sources (the ``("name", payload)`` literals, and
    the ``task.<action>`` of an assignment change) has a dataclass and a signal."""
    from workflows_app import signals

    engine = Path(core.__file__).parent.parent / "engine"
    sent = set()
    for source in engine.glob("*.py"):
        text = source.read_text()
        sent |= set(EVENT_NAME.findall(text)) | set(EVENT_TUPLE.findall(text))
    sent |= {f"task.{action}" for action in ("claimed", "released", "reassigned")}
    assert "workflow.suspended" in sent and "message.buffered" in sent  # the scan works
    assert sent <= set(core.events.BY_EVENT), sent - set(core.events.BY_EVENT)
    assert set(core.events.BY_EVENT) == set(signals.BY_EVENT)
    for name, cls in core.events.BY_EVENT.items():
        assert issubclass(cls, core.WorkflowEvent), name
        assert getattr(core, cls.__name__) is cls  # exported with the others


def test_message_buffered__concerns_no_instance() -> None:
    event = core.MessageBuffered(instance_id=None, timestamp=NOW, name="paid")
    assert event.instance_id is None
