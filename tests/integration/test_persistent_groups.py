"""Step groups placed in a workflow run by the persistent engine (scenario 22).

docs/concepts/steps.rst: "give a group a ``name`` and use it as a step". A group runs its
members through ``engine.execute_step``, so the engine running the workflow must provide it.
"""

from __future__ import annotations

import pytest

from tests.integration.helpers import Edge, Step, executions, marker, workflow
from workflows_app import ParallelGroup, SequentialGroup
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def append(name):
    def body(ctx):
        ctx.set("order", [*ctx.get("order", []), name])
        return f"{name}:{ctx.get('_previous_result')}"

    return Step(name, body)


def test_sequential_group_as_a_step(engine) -> None:
    group = SequentialGroup(append("s1"), append("s2"), append("s3"), name="seq")
    wf = workflow([marker("A"), group, marker("B")], [Edge("A", "seq"), Edge("seq", "B")])
    instance = engine.start_workflow_sync(wf)
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert (row.status, row.error) == ("completed", None)
    assert row.context_data["order"] == ["s1", "s2", "s3"]
    assert [(r.step_name, r.status) for r in executions(instance.id)] == [
        ("A", "succeeded"),
        ("seq", "succeeded"),
        ("B", "succeeded"),
    ]
    assert executions(instance.id, "seq")[0].output_data == {"result": "s3:s2:s1:None"}


def test_parallel_group_with_callback_as_a_step(engine) -> None:
    total = Step("total", lambda ctx: sum(ctx.get("_previous_result")))
    group = ParallelGroup(
        Step("a", lambda ctx: 1), Step("b", lambda ctx: 2), callback=total, name="chord"
    )
    instance = engine.start_workflow_sync(workflow([group], []))
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert (row.status, row.error) == ("completed", None)
    assert executions(instance.id)[0].output_data == {"result": 3}
