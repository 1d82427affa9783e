"""StepType, StepStatus and WorkflowStatus: StrEnums with lowercase values (upstream 0.3.3)."""

from __future__ import annotations

import json

import pytest

from workflows_app import StepStatus, StepType, WorkflowStatus


def test_step_type__members_in_declaration_order() -> None:
    assert [member.value for member in StepType] == [
        "machine",
        "human",
        "webhook",
        "timer",
        "gateway",
        "message",  # (added)
        "subworkflow",  # (added)
        "compensation",  # (added: the runs of a step's compensate)
    ]
    assert [member.name for member in StepType] == [
        "MACHINE",
        "HUMAN",
        "WEBHOOK",
        "TIMER",
        "GATEWAY",
        "MESSAGE",
        "SUBWORKFLOW",
        "COMPENSATION",
    ]


def test_step_status__members_in_declaration_order() -> None:
    assert [member.value for member in StepStatus] == [
        "pending",
        "scheduled",
        "running",
        "waiting",
        "succeeded",
        "failed",
        "canceled",
        "skipped",
    ]


def test_workflow_status__members_in_declaration_order() -> None:
    assert [member.value for member in WorkflowStatus] == [
        "pending",
        "running",
        "paused",
        "waiting",
        "completed",
        "failed",
        "canceled",
        "suspended",
    ]


@pytest.mark.parametrize("member", [*StepType, *StepStatus, *WorkflowStatus])
def test_enums__str_and_format_give_the_lowercase_value(member) -> None:
    assert isinstance(member, str)
    assert str(member) == member.name.lower()
    assert f"{member}" == member.name.lower()
    assert member == member.name.lower()


def test_enums__lookup_by_value() -> None:
    assert StepStatus("succeeded") is StepStatus.SUCCEEDED
    assert WorkflowStatus("waiting") is WorkflowStatus.WAITING
    assert StepType("gateway") is StepType.GATEWAY
    with pytest.raises(ValueError):
        WorkflowStatus("COMPLETED")


def test_enums__serialise_to_json_as_plain_strings() -> None:
    payload = json.dumps({"status": WorkflowStatus.COMPLETED, "step": StepStatus.SKIPPED})
    assert json.loads(payload) == {"status": "completed", "step": "skipped"}
