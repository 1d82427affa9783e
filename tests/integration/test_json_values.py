"""What the engine stores as JSON (:mod:`workflows_app.core.jsonvalues`): numbers that are
not finite, lone surrogates and nesting deeper than ``JSON_MAX_DEPTH`` are refused at every
entry point before anything is written, and a step that produces them fails (NUL characters
have their own module, ``test_nul_characters``)."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from tests.integration.helpers import Edge, Step, human, marker, tasks, workflow
from workflows_app.core import jsonvalues
from workflows_app.core.steps import WebhookStep
from workflows_app.engine.semantics import json_problem
from workflows_app.exceptions import TaskValidationError, WorkflowValidationError
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db

MAX = jsonvalues.MAX_DEPTH


def nested(levels: int) -> list:
    """A list nested ``levels`` deep (itself level 1), built without recursion."""
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


def counts() -> tuple[int, int, int]:
    return (
        WorkflowInstanceModel.objects.count(),
        StepExecutionModel.objects.count(),
        HumanTaskModel.objects.count(),
    )


BAD = [
    pytest.param(float("nan"), "finite number", id="nan"),
    pytest.param(float("inf"), "finite number", id="infinity"),
    pytest.param(float("-inf"), "finite number", id="-infinity"),
    pytest.param(json.loads("1e999"), "finite number", id="1e999"),
    pytest.param("\ud800", "lone surrogates", id="surrogate"),
    pytest.param({"\udfff": 1}, "lone surrogates", id="surrogate-key"),
    pytest.param(nested(MAX), f"nested deeper than {MAX} levels", id="one-level-too-deep"),
    pytest.param(nested(500), f"nested deeper than {MAX} levels", id="501-levels"),
    pytest.param(nested(20_000), f"nested deeper than {MAX} levels", id="20001-levels"),
]


@pytest.mark.parametrize(("value", "message"), BAD)
def test_json_problem__names_the_place(value, message) -> None:
    problem = json_problem({"order": {"lines": [1, value]}}, "initial_data")

    assert problem is not None and message in problem
    assert problem.startswith("initial_data.order.lines[1]")


def test_json_problem__takes_what_every_database_stores() -> None:
    value = {
        "text": "é 😀 \\u0000",
        "n": [1, 2.5, -0.0, 10**30, True, None],
        "deep": nested(MAX - 1),
    }

    assert json_problem(value, "data") is None
    assert jsonvalues.problems(value) == []


def test_start__data_nested_to_the_limit_is_stored_and_read_back(engine) -> None:
    """The default limit is the deepest every database stores (MariaDB's is the lowest)."""
    data = {"deep": nested(MAX - 1)}

    started = engine.start_workflow_sync(workflow([human("H")], []), data)

    assert WorkflowInstanceModel.objects.get(pk=started.id).context_data["deep"] == data["deep"]
    assert engine.get_instance_sync(started.id).context.get("deep") == data["deep"]


def test_problems__lists_several_and_stops_at_the_limit() -> None:
    value = {f"k{index}": float("nan") for index in range(30)}

    found = jsonvalues.problems(value, limit=5)

    assert len(found) == 5
    assert {problem.code for problem in found} == {"not_finite"}


@pytest.mark.parametrize(("value", "message"), BAD)
def test_start__refused_and_nothing_written(engine, value, message) -> None:
    before = counts()

    with pytest.raises(WorkflowValidationError, match=message):
        engine.start_workflow_sync(workflow([marker("A")], []), {"x": value})
    with pytest.raises(WorkflowValidationError, match=message):
        engine.start_workflow_sync(workflow([marker("A")], []), {}, metadata={"m": value})

    assert counts() == before


@pytest.mark.parametrize(("value", "message"), BAD)
def test_complete__refused_and_the_task_stays_pending(engine, value, message) -> None:
    started = engine.start_workflow_sync(workflow([human("H")], []))

    with pytest.raises(TaskValidationError, match=message):
        engine.complete_human_task_sync(started.id, "H", "ann", {"note": value})

    [task] = tasks(started.id, "H")
    assert task.status == "pending"
    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "waiting"


@pytest.mark.parametrize(("value", "message"), BAD)
def test_webhook__refused_and_the_step_still_waits(engine, value, message) -> None:
    started = engine.start_workflow_sync(workflow([WebhookStep("hook")], []))
    token = started.context.get("hook_callback_token")

    with pytest.raises(WorkflowValidationError, match=message.replace(str(MAX), str(MAX - 1))):
        engine.complete_webhook_sync(token, {"paid": value})

    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "waiting"
    # And the right payload still goes through.
    assert engine.complete_webhook_sync(token, {"paid": 1}).status == "completed"


@pytest.mark.parametrize(("value", "message"), BAD)
def test_step__producing_it_fails_the_step(engine, value, message) -> None:
    after = marker("B")
    wf = workflow([Step("A", lambda ctx: ctx.set("x", value)), after], [Edge("A", "B")])

    engine.start_workflow_sync(wf)

    row = WorkflowInstanceModel.objects.get()
    assert (row.status, row.current_step, row.lease_owner) == ("failed", "A", None)
    assert message in row.error and "x" in row.error
    assert after.calls == 0


def test_the_limit_is_a_setting(engine, settings) -> None:
    with override_settings(WORKFLOWS={**settings.WORKFLOWS, "JSON_MAX_DEPTH": 3}):
        with pytest.raises(WorkflowValidationError, match="deeper than 3 levels"):
            engine.start_workflow_sync(workflow([marker("A")], []), {"x": [[[1]]]})
        started = engine.start_workflow_sync(workflow([marker("A")], []), {"x": [[1]]})
    assert started.status == "completed"
