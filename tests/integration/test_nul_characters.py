"""NUL characters: PostgreSQL cannot store them in JSON or text, so the engine refuses them
on every database, before anything is written (and a step that produces one fails)."""

from __future__ import annotations

import pytest

from tests.integration.helpers import Edge, Step, human, marker, tasks, workflow
from workflows_app.core.steps import WebhookStep
from workflows_app.engine.semantics import json_problem
from workflows_app.exceptions import TaskValidationError, WorkflowValidationError
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, int, int]:
    return (
        WorkflowInstanceModel.objects.count(),
        StepExecutionModel.objects.count(),
        HumanTaskModel.objects.count(),
    )


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ({"name": "a\x00b"}, True),
        ({"a\x00": 1}, True),  # in a key
        ({"nested": [{"deep": "\x00"}]}, True),
        ({"text": "\\u0000"}, False),  # a backslash, then "u0000": six plain characters
        ({"text": "\\\x00"}, True),  # a backslash, then NUL
        ({"text": "no nul here"}, False),
    ],
)
def test_json_problem__finds_nul_characters_only(value, refused) -> None:
    problem = json_problem(value, "The data")

    assert (problem is not None) == refused
    if refused:
        assert "NUL" in problem


def test_start__nul_in_the_data_writes_nothing(engine) -> None:
    before = counts()

    with pytest.raises(WorkflowValidationError, match="NUL"):
        engine.start_workflow_sync(workflow([marker("A")], []), {"name": "x\x00"})
    with pytest.raises(WorkflowValidationError, match="NUL"):
        engine.start_workflow_sync(workflow([marker("A")], []), {}, metadata={"m": "\x00"})

    assert counts() == before


def test_complete__nul_in_the_answer_changes_nothing(engine) -> None:
    started = engine.start_workflow_sync(workflow([human("H")], []))

    with pytest.raises(TaskValidationError, match="NUL"):
        engine.complete_human_task_sync(started.id, "H", "ann", {"note": "\x00"})

    [task] = tasks(started.id, "H")
    assert task.status == "pending"
    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "waiting"


def test_webhook__nul_in_the_payload_changes_nothing(engine) -> None:
    started = engine.start_workflow_sync(workflow([WebhookStep("hook")], []))
    token = started.context.get("hook_callback_token")

    with pytest.raises(WorkflowValidationError, match="NUL"):
        engine.complete_webhook_sync(token, {"paid": "\x00"})

    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "waiting"


def test_step__producing_a_nul_fails_the_step(engine) -> None:
    after = marker("B")
    wf = workflow([Step("A", lambda ctx: ctx.set("name", "x\x00")), after], [Edge("A", "B")])

    engine.start_workflow_sync(wf)

    row = WorkflowInstanceModel.objects.get()
    assert (row.status, row.current_step) == ("failed", "A")
    assert "NUL" in row.error
    assert after.calls == 0
