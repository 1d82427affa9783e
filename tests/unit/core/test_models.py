"""WorkflowInstanceData, the runtime record the engines return."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

from workflows_app import WorkflowContext, WorkflowStatus
from workflows_app.core import WorkflowInstanceData
from workflows_app.engine import WorkflowInstance

NOW = datetime(2025, 1, 2, tzinfo=UTC)


def context() -> WorkflowContext:
    return WorkflowContext(uuid.uuid4(), uuid.uuid4(), {}, {}, "a", [], NOW)


def test_workflow_instance_data__positional_in_upstream_order() -> None:
    iid, wid = uuid.uuid4(), uuid.uuid4()
    ctx = context()
    done = datetime(2025, 1, 3, tzinfo=UTC)
    instance = WorkflowInstanceData(
        iid, "approval", "1.0.0", WorkflowStatus.FAILED, ctx, "a", NOW, done, "boom", wid
    )
    assert instance.id == iid
    assert instance.workflow_name == "approval"
    assert instance.workflow_version == "1.0.0"
    assert instance.status == "failed"
    assert instance.context is ctx
    assert instance.current_step == "a"
    assert instance.started_at == NOW
    assert instance.completed_at == done
    assert instance.error == "boom"
    assert instance.workflow_id == wid


def test_workflow_instance_data__defaults() -> None:
    instance = WorkflowInstanceData(
        uuid.uuid4(), "w", "1", WorkflowStatus.RUNNING, context(), None, NOW
    )
    assert instance.completed_at is None
    assert instance.error is None
    assert instance.workflow_id is None
    # Upstream's ten fields come first, in upstream's order; additions may only follow them.
    assert [f.name for f in dataclasses.fields(WorkflowInstanceData)][:10] == [
        "id",
        "workflow_name",
        "workflow_version",
        "status",
        "context",
        "current_step",
        "started_at",
        "completed_at",
        "error",
        "workflow_id",
    ]


def test_workflow_instance__engine_alias_is_the_dataclass() -> None:
    assert WorkflowInstance is WorkflowInstanceData
