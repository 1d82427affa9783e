"""Helpers of the API contract tests: the error shape, starting instances, row counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

ERROR_KEYS = {"status_code", "detail", "code", "errors"}

# The fields of upstream's WorkflowInstanceDTO (upstream-api.md §4.2); ours may add more.
UPSTREAM_INSTANCE_FIELDS = {
    "id",
    "definition_name",
    "status",
    "current_step",
    "started_at",
    "completed_at",
    "created_by",
}
UPSTREAM_TASK_FIELDS = {
    "id",
    "instance_id",
    "step_name",
    "title",
    "description",
    "assignee",
    "status",
    "due_date",
    "created_at",
    "form_schema",
}


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Check that ``response`` is an error answer of ``status`` in the API's one shape."""
    assert response.status_code == status, response
    body = response.json()
    assert set(body) == ERROR_KEYS, body
    assert body["status_code"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    for error in body["errors"]:
        assert set(error) == {"loc", "msg", "type"}, error
        assert isinstance(error["loc"], list) and error["loc"], error
    return body


def locations(body: dict[str, Any]) -> list[list[Any]]:
    """The ``loc`` of each field error of an error body."""
    return [error["loc"] for error in body["errors"]]


def start(client: Any, caller: Any, name: str = "api_review", **fields: Any) -> dict[str, Any]:
    """Start ``name`` through the API as ``caller``; return the 201 answer's body."""
    answer = client.post("/instances", caller, json={"definition_name": name, **fields})
    assert answer.status_code == 201, answer
    return answer.json()


def task_of(instance: dict[str, Any]) -> HumanTaskModel:
    """The one task of an instance started through the API."""
    return HumanTaskModel.objects.get(instance_id=instance["id"])


def row_counts() -> tuple[int, int, int]:
    return (
        WorkflowInstanceModel.objects.count(),
        HumanTaskModel.objects.count(),
        StepExecutionModel.objects.count(),
    )


def executions(instance_id: Any, step_name: str) -> int:
    return StepExecutionModel.objects.filter(instance_id=instance_id, step_name=step_name).count()


@contextmanager
def rows_unchanged() -> Iterator[None]:
    """Check that the block leaves the number of instances, tasks and executions as it was."""
    before = row_counts()
    yield
    assert row_counts() == before
