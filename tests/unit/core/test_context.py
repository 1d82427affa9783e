"""WorkflowContext and StepExecution (upstream dataclasses, field order and helpers)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from workflows_app import StepExecution, StepStatus, WorkflowContext

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def make(data=None, **overrides) -> WorkflowContext:
    fields = {
        "workflow_id": uuid.uuid4(),
        "instance_id": uuid.uuid4(),
        "data": {"test_key": "test_value", "count": 0} if data is None else data,
        "metadata": {"created_by": "test_user"},
        "current_step": "initial_step",
        "step_history": [],
        "started_at": NOW,
    }
    fields.update(overrides)
    return WorkflowContext(**fields)


def test_step_execution__positional_in_upstream_order() -> None:
    later = NOW + timedelta(seconds=1)
    record = StepExecution(
        "a", StepStatus.FAILED, NOW, later, {"r": 1}, "boom", {"in": 1}, {"out": 2}
    )
    assert record.step_name == "a"
    assert record.status == "failed"
    assert record.started_at == NOW
    assert record.completed_at == later
    assert record.result == {"r": 1}
    assert record.error == "boom"
    assert record.input_data == {"in": 1}
    assert record.output_data == {"out": 2}


def test_step_execution__defaults() -> None:
    record = StepExecution("a", StepStatus.SUCCEEDED, NOW)
    assert (
        record.completed_at,
        record.result,
        record.error,
        record.input_data,
        record.output_data,
    ) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert record.attempt == 1  # an addition: which attempt of the step this was
    # Upstream's fields come first, in upstream's order; additions follow.
    assert [f.name for f in dataclasses.fields(StepExecution)][:8] == [
        "step_name",
        "status",
        "started_at",
        "completed_at",
        "result",
        "error",
        "input_data",
        "output_data",
    ]


def test_workflow_context__positional_in_upstream_order() -> None:
    wid, iid = uuid.uuid4(), uuid.uuid4()
    history: list[StepExecution] = []
    ctx = WorkflowContext(wid, iid, {"a": 1}, {"m": 2}, "s1", history, NOW, "u1", "t1")
    assert ctx.workflow_id == wid
    assert ctx.instance_id == iid
    assert ctx.data == {"a": 1}
    assert ctx.metadata == {"m": 2}
    assert ctx.current_step == "s1"
    assert ctx.step_history is history
    assert ctx.started_at == NOW
    assert ctx.user_id == "u1"
    assert ctx.tenant_id == "t1"


def test_workflow_context__user_and_tenant_default_to_none() -> None:
    ctx = WorkflowContext(uuid.uuid4(), uuid.uuid4(), {}, {}, "s", [], NOW)
    assert ctx.user_id is None
    assert ctx.tenant_id is None


def test_workflow_context__get_and_set() -> None:
    ctx = make()
    assert ctx.get("test_key") == "test_value"
    assert ctx.get("missing") is None
    assert ctx.get("missing", 42) == 42
    ctx.set("count", 5)
    ctx.set("new", [1])
    assert ctx.data == {"test_key": "test_value", "count": 5, "new": [1]}


def test_workflow_context__get_returns_falsy_values_not_default() -> None:
    ctx = make({"zero": 0, "none": None, "empty": ""})
    assert ctx.get("zero", 9) == 0
    assert ctx.get("empty", "x") == ""
    assert ctx.get("none", "x") is None


def test_workflow_context__with_step_shares_data_metadata_and_history() -> None:
    ctx = make()
    other = ctx.with_step("next")
    assert other is not ctx
    assert other.current_step == "next"
    assert ctx.current_step == "initial_step"
    assert other.instance_id == ctx.instance_id
    assert other.workflow_id == ctx.workflow_id
    other.set("written_by_branch", True)
    other.metadata["seen"] = 1
    other.step_history.append(StepExecution("x", StepStatus.SUCCEEDED, NOW))
    assert ctx.get("written_by_branch") is True
    assert ctx.metadata["seen"] == 1
    assert [e.step_name for e in ctx.step_history] == ["x"]


def test_workflow_context__with_step_keeps_user_and_tenant() -> None:
    ctx = make(user_id="u1", tenant_id="t1")
    other = ctx.with_step("b")
    assert (other.user_id, other.tenant_id) == ("u1", "t1")


def test_workflow_context__get_last_execution() -> None:
    ctx = make()
    assert ctx.get_last_execution() is None
    assert ctx.get_last_execution("a") is None
    first_a = StepExecution("a", StepStatus.FAILED, NOW)
    b = StepExecution("b", StepStatus.SUCCEEDED, NOW)
    second_a = StepExecution("a", StepStatus.SUCCEEDED, NOW)
    third = StepExecution("c", StepStatus.SKIPPED, NOW)
    ctx.step_history.extend([first_a, b, second_a, third])
    assert ctx.get_last_execution() is third
    assert ctx.get_last_execution("a") is second_a
    assert ctx.get_last_execution("b") is b
    assert ctx.get_last_execution("zzz") is None


def test_workflow_context__has_step_executed() -> None:
    ctx = make()
    assert ctx.has_step_executed("a") is False
    ctx.step_history.append(StepExecution("a", StepStatus.SKIPPED, NOW))
    assert ctx.has_step_executed("a") is True
    assert ctx.has_step_executed("b") is False
