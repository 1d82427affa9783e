"""Exception hierarchy, messages (§2.14) and the stdlib bases that keep upstream callers working."""

from __future__ import annotations

import uuid

import pytest

from workflows_app import (
    HumanTaskError,
    InvalidTransitionError,
    StepExecutionError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    UnauthorizedTaskError,
    WorkflowAlreadyCompletedError,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowsError,
    WorkflowStatus,
    WorkflowValidationError,
)
from workflows_app.exceptions import TaskValidationError, WorkflowStateError


def test_workflow_not_found__message_and_attributes() -> None:
    exc = WorkflowNotFoundError("approval")
    assert str(exc) == "Workflow 'approval' not found"
    assert (exc.name, exc.version) == ("approval", None)
    with_version = WorkflowNotFoundError("approval", "2.0.0")
    assert str(with_version) == "Workflow 'approval' version '2.0.0' not found"
    assert with_version.version == "2.0.0"


def test_workflow_not_found__is_a_key_error_with_plain_message() -> None:
    with pytest.raises(KeyError) as excinfo:
        raise WorkflowNotFoundError("approval")
    assert str(excinfo.value) == "Workflow 'approval' not found"
    assert isinstance(excinfo.value, WorkflowsError)


def test_workflow_instance_not_found__message() -> None:
    instance_id = uuid.uuid4()
    exc = WorkflowInstanceNotFoundError(instance_id)
    assert str(exc) == f"Workflow instance '{instance_id}' not found"
    assert exc.instance_id == instance_id
    assert isinstance(exc, KeyError)
    assert isinstance(exc, WorkflowsError)


def test_step_execution_error__message_with_and_without_cause() -> None:
    exc = StepExecutionError("charge")
    assert str(exc) == "Step 'charge' failed"
    assert exc.step_name == "charge"
    assert exc.cause is None
    cause = ValueError("card declined")
    with_cause = StepExecutionError("charge", cause)
    assert str(with_cause) == "Step 'charge' failed: card declined"
    assert with_cause.cause is cause


def test_invalid_transition__message_and_value_error() -> None:
    exc = InvalidTransitionError("a", "b")
    assert str(exc) == "Invalid transition from 'a' to 'b'"
    assert (exc.from_step, exc.to_step, exc.reason) == ("a", "b", None)
    assert (
        str(InvalidTransitionError("a", "b", "no edge"))
        == "Invalid transition from 'a' to 'b': no edge"
    )
    assert isinstance(exc, ValueError)


def test_workflow_validation_error__joins_errors() -> None:
    exc = WorkflowValidationError(["e1", "e2"])
    assert str(exc) == "Workflow validation failed: e1; e2"
    assert exc.errors == ["e1", "e2"]


def test_workflow_already_completed__message_with_enum_status() -> None:
    instance_id = uuid.uuid4()
    exc = WorkflowAlreadyCompletedError(instance_id, WorkflowStatus.COMPLETED)
    assert str(exc) == f"Workflow '{instance_id}' is already completed"
    assert exc.instance_id == instance_id
    assert exc.status == "completed"
    assert isinstance(exc, ValueError)
    assert str(WorkflowAlreadyCompletedError("x", "canceled")) == "Workflow 'x' is already canceled"


def test_task_not_found__message_and_bases() -> None:
    exc = TaskNotFoundError("t1")
    assert str(exc) == "Task 't1' not found"
    assert exc.task_id == "t1"
    assert isinstance(exc, HumanTaskError)
    assert isinstance(exc, KeyError)


def test_task_already_completed__message_and_bases() -> None:
    exc = TaskAlreadyCompletedError("t1")
    assert str(exc) == "Task 't1' is already completed"
    assert exc.task_id == "t1"
    assert isinstance(exc, HumanTaskError)
    assert isinstance(exc, ValueError)


def test_unauthorized_task__message_and_bases() -> None:
    exc = UnauthorizedTaskError("t1", "mallory")
    assert str(exc) == "User 'mallory' is not authorized to complete task 't1'"
    assert (exc.task_id, exc.user_id) == ("t1", "mallory")
    assert isinstance(exc, HumanTaskError)
    assert not isinstance(exc, ValueError)
    assert not isinstance(exc, KeyError)


@pytest.mark.parametrize(
    "cls",
    [
        WorkflowNotFoundError,
        WorkflowInstanceNotFoundError,
        StepExecutionError,
        InvalidTransitionError,
        WorkflowValidationError,
        WorkflowAlreadyCompletedError,
        HumanTaskError,
        TaskNotFoundError,
        TaskAlreadyCompletedError,
        UnauthorizedTaskError,
        WorkflowStateError,
        TaskValidationError,
    ],
)
def test_exceptions__all_derive_from_workflows_error(cls) -> None:
    assert issubclass(cls, WorkflowsError)
    assert issubclass(WorkflowsError, Exception)


def test_workflow_state_error__is_a_value_error() -> None:
    assert issubclass(WorkflowStateError, ValueError)
    assert not issubclass(WorkflowStateError, KeyError)


def test_task_validation_error__is_a_workflow_validation_error() -> None:
    assert issubclass(TaskValidationError, WorkflowValidationError)


def test_not_found_errors__catchable_as_key_error_in_dict_style_code() -> None:
    def lookup() -> None:
        raise WorkflowInstanceNotFoundError(uuid.uuid4())

    try:
        lookup()
    except KeyError as exc:
        assert "not found" in str(exc)
        assert not str(exc).startswith('"')
    else:  # pragma: no cover - the raise above always happens
        pytest.fail("not raised")
