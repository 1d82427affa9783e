"""Webhook steps in the database: the waiting execution holds the callback token.

How webhook steps behave (the token, the callback, its errors) is in tests/engine_contract.
"""

from __future__ import annotations

import pytest

from tests.integration.helpers import executions, marker, workflow
from workflows_app import Edge, WebhookStep
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def test_webhook__the_waiting_execution_holds_the_token(engine) -> None:
    wf = workflow(
        [marker("A"), WebhookStep(name="bank", callback_key="transfer"), marker("after")],
        [Edge("A", "bank"), Edge("bank", "after")],
    )
    instance = engine.start_workflow_sync(wf)
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    token = row.context_data["bank_callback_token"]
    [execution] = executions(instance.id, "bank")
    assert (execution.status, execution.step_type, execution.callback_token) == (
        "waiting",
        "webhook",
        token,
    )
    assert [(t["step"], t["state"]) for t in row.tokens] == [("bank", "waiting")]

    result = engine.complete_webhook_sync(token, {"ok": True})
    assert result.status == "completed"
    [execution] = executions(instance.id, "bank")
    assert (execution.status, execution.output_data) == ("succeeded", {"transfer": {"ok": True}})
    assert execution.callback_token == token  # kept: a second call is told it is used
