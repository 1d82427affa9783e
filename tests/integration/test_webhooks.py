"""Webhook steps wait for their callback; the callback token resumes them once."""

from __future__ import annotations

import pytest

from tests.integration.helpers import executions, marker, workflow
from workflows_app import (
    CallbackNotFoundError,
    Edge,
    WebhookStep,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(engine, bus, committed):
    after = marker("after")
    wf = workflow(
        [marker("A"), WebhookStep(name="bank", callback_key="transfer"), after],
        [Edge("A", "bank"), Edge("bank", "after")],
    )
    with committed():
        instance = engine.start_workflow_sync(wf)
    return instance, after


def test_webhook__waits_with_an_unguessable_token(waiting, bus) -> None:
    instance, after = waiting
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert (row.status, row.current_step, after.calls) == ("waiting", "bank", 0)
    token = row.context_data["bank_callback_token"]
    assert len(token) >= 40
    [execution] = StepExecutionModel.objects.filter(step_name="bank")
    assert (execution.status, execution.step_type, execution.callback_token) == (
        "waiting",
        "webhook",
        token,
    )
    assert not HumanTaskModel.objects.exists()  # no task for people
    [event] = bus.of("webhook.waiting")
    assert event == {"instance_id": instance.id, "step_name": "bank", "callback_token": token}


def test_webhook__callback_resumes_once(engine, waiting) -> None:
    instance, after = waiting
    token = engine.get_instance_sync(instance.id).context.data["bank_callback_token"]

    result = engine.complete_webhook_sync(token, {"amount": 12.5, "ok": True})

    assert result.status == "completed" and after.calls == 1
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert row.context_data["transfer"] == {"amount": 12.5, "ok": True}
    [execution] = executions(instance.id, "bank")
    assert (execution.status, execution.output_data) == (
        "succeeded",
        {"transfer": {"amount": 12.5, "ok": True}},
    )
    with pytest.raises(WorkflowStateError, match="no longer waiting"):
        engine.complete_webhook_sync(token, {"again": True})


@pytest.mark.parametrize("token", ["", "nope", "x" * 500, None])
def test_webhook__unknown_token_changes_nothing(engine, waiting, token) -> None:
    instance, _ = waiting
    before = WorkflowInstanceModel.objects.get(pk=instance.id).lock_version
    with pytest.raises(CallbackNotFoundError) as raised:
        engine.complete_webhook_sync(token, {})
    assert isinstance(raised.value, KeyError)
    assert "nope" not in str(raised.value)  # the message never echoes tokens
    assert WorkflowInstanceModel.objects.get(pk=instance.id).lock_version == before


def test_webhook__a_payload_that_is_not_json_is_refused(engine, waiting) -> None:
    instance, _ = waiting
    token = engine.get_instance_sync(instance.id).context.data["bank_callback_token"]
    with pytest.raises(WorkflowValidationError, match="JSON"):
        engine.complete_webhook_sync(token, {"when": object()})
    assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "waiting"


def test_webhook__cancel_then_callback(engine, waiting) -> None:
    instance, _ = waiting
    token = engine.get_instance_sync(instance.id).context.data["bank_callback_token"]
    engine.cancel_workflow_sync(instance.id, "stop")
    with pytest.raises(WorkflowStateError):
        engine.complete_webhook_sync(token, {})
