"""Parallel branches in the database rows (scenarios 15 and 16).

How branches, joins and parallel human steps behave is in tests/engine_contract; these are
the rows that record them.
"""

from __future__ import annotations

import pytest

from tests.integration.helpers import Edge, executions, human, marker, workflow
from workflows_app.models import StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def test_each_branch_has_its_own_token__scenario_15(engine) -> None:
    wf = workflow(
        [marker("start"), marker("p1"), marker("p2")],
        [Edge("start", "p1"), Edge("start", "p2")],
        terminal={"p1", "p2"},
    )
    instance = engine.start_workflow_sync(wf)
    rows = executions(instance.id)
    assert rows[0].step_name == "start"
    assert len({r.token_id for r in rows[1:]}) == 2  # two branches
    assert WorkflowInstanceModel.objects.get(pk=instance.id).tokens == []


def two_humans():
    return workflow(
        [marker("start"), human("h1"), human("h2"), marker("join")],
        [Edge("start", "h1"), Edge("start", "h2"), Edge("h1", "join"), Edge("h2", "join")],
        terminal={"join"},
    )


def test_two_waiting_branches_each_have_a_waiting_execution(engine) -> None:
    started = engine.start_workflow_sync(two_humans())
    humans = [r for r in executions(started.id) if r.step_type == "human"]
    assert sorted((r.step_name, r.status) for r in humans) == [
        ("h1", "waiting"),
        ("h2", "waiting"),
    ]
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert sorted((t["step"], t["state"]) for t in row.tokens) == [
        ("h1", "waiting"),
        ("h2", "waiting"),
    ]
    assert {r.token_id for r in humans} == {t["id"] for t in row.tokens}


def test_cancel_while_branches_wait_leaves_no_execution_waiting(engine) -> None:
    started = engine.start_workflow_sync(two_humans())
    engine.complete_human_task_sync(started.id, "h1", "u1", {"one": 1})
    engine.cancel_workflow_sync(started.id, "stop")
    assert not StepExecutionModel.objects.filter(instance_id=started.id, status="waiting").exists()
    assert [(r.step_name, r.status) for r in executions(started.id, "h2")] == [("h2", "canceled")]
    assert WorkflowInstanceModel.objects.get(pk=started.id).tokens == []
