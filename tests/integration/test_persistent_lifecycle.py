"""Cancel and retry in the database rows (scenario 12 and the intended ``retry``).

How cancel and retry behave is in tests/engine_contract; these tests read the rows, and what
the ``_sync`` calls return.
"""

from __future__ import annotations

import pytest

from tests.integration.helpers import Edge, FlakyOnce, Step, executions, human, marker, workflow
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def test_cancel__rows__scenario_12(engine, bus, committed) -> None:
    wf = workflow([marker("A"), human("H"), marker("C")], [Edge("A", "H"), Edge("H", "C")])
    started = engine.start_workflow_sync(wf)
    with committed():
        returned = engine.cancel_workflow_sync(started.id, "nope")
    assert (returned.status, returned.error) == ("canceled", "Canceled: nope")
    assert bus.names("workflow.") == ["workflow.canceled"]  # sent when the cancel commits

    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.tokens, row.lease_owner, row.wake_at) == ("canceled", [], None, None)
    (h_row,) = executions(started.id, "H")
    assert (h_row.status, h_row.completed_by) == ("canceled", None)
    assert h_row.completed_at is not None


def test_retry__returns_the_instance_and_writes_a_row_per_attempt(engine) -> None:
    wf = workflow(
        [marker("A"), Step("F", FlakyOnce()), marker("C")], [Edge("A", "F"), Edge("F", "C")]
    )
    failed = engine.start_workflow_sync(wf)
    assert failed.status == "failed"
    returned = engine.retry_sync(failed.id)
    assert (returned.status, returned.error) == ("completed", None)
    rows = executions(failed.id, "F")
    assert [(r.status, r.attempt, r.error) for r in rows] == [
        ("failed", 1, "first attempt fails"),
        ("succeeded", 1, None),
    ]
    assert rows[0].token_id == rows[1].token_id  # the same branch, run again
    row = WorkflowInstanceModel.objects.get(pk=failed.id)
    assert (row.tokens, row.lease_owner, row.wake_at) == ([], None, None)
