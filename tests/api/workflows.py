"""Workflows the API tests run, registered in the default registry (in the test process and
in the uvicorn process, see ``tests/api/asgi.py``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    MessageStep,
    SubworkflowStep,
    WebhookStep,
    Workflow,
)
from workflows_app.models import StepExecutionModel


class Prepare(BaseMachineStep):
    name = "prepare"

    def execute(self, context):
        context.set("prepared", True)


class Review(BaseHumanStep):
    name = "review"
    title = "Review the document"
    description = "Read it, score it, approve or reject it."
    assignee_group = "reviewers"
    due_in = timedelta(days=1)
    priority = 5
    form_schema = {
        "type": "object",
        "properties": {
            "approved": {"type": "boolean"},
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "notes": {"type": "string", "maxLength": 200},
        },
        "required": ["approved"],
        "additionalProperties": False,
    }


class Publish(BaseMachineStep):
    name = "publish"

    def execute(self, context):
        context.set("published", True)


class Archive(BaseMachineStep):
    name = "archive"

    def execute(self, context):
        context.set("published", False)


class ApiReview(Workflow):
    """A machine step, a group task with a form, then one of two ends."""

    name = "api_review"
    version = "1.0.0"
    steps = [Prepare, Review, Publish, Archive]
    edges = [
        ("prepare", "review"),
        ("review", "publish", "approved"),
        ("review", "archive", "not approved"),
    ]


class Sign(BaseHumanStep):
    name = "sign"
    title = "Sign the contract"
    assignee_key = "signer"  # the user id in the context's "signer"


class ApiAssigned(Workflow):
    """One task assigned to the user named in the start data, with no group."""

    name = "api_assigned"
    version = "1.0.0"
    steps = [Sign]
    edges = []


class Charge(BaseMachineStep):
    """Fails the first time it runs in an instance, then succeeds (a retry mends it)."""

    name = "charge"

    def execute(self, context):
        failed_before = StepExecutionModel.objects.filter(
            instance_id=context.instance_id, step_name="charge", status="failed"
        ).exists()
        if not failed_before:
            raise RuntimeError("card declined")
        context.set("charged", True)


class ApiFlaky(Workflow):
    """Fails at its only step; retrying it completes it."""

    name = "api_flaky"
    version = "1.0.0"
    steps = [Charge]
    edges = []


class AwaitPayment(WebhookStep):
    name = "await_payment"
    callback_key = "payment"


class ApiWebhook(Workflow):
    """Waits for a webhook call."""

    name = "api_webhook"
    version = "1.0.0"
    steps = [AwaitPayment]
    edges = []


class Draft(BaseMachineStep):
    name = "draft"

    def execute(self, context):
        context.set("drafted", True)


class Polish(BaseMachineStep):
    name = "polish"

    def execute(self, context):
        context.set("polished", True)


class ApiVersionedOne(Workflow):
    """Two versions under one name: the definitions routes list and pick them."""

    name = "api_versioned"
    version = "1.0.0"
    steps = [Draft]
    edges = []


class ApiVersionedTwo(Workflow):
    """The latest version of api_versioned: a second step."""

    name = "api_versioned"
    version = "2.0.0"
    steps = [Draft, Polish]
    edges = [("draft", "polish")]


class Approve(BaseHumanStep):
    name = "approve"
    title = "Approve the purchase"
    assignee_group = "reviewers"


class ManagerApproval(BaseHumanStep):
    name = "manager_approval"
    title = "Manager approval"
    assignee_group = "reviewers"


class BudgetCheck(BaseMachineStep):
    name = "budget_check"

    def execute(self, context):
        context.set("budget_checked", True)


class ApiMovingOne(Workflow):
    """Two versions to move instances between (POST /instances/migrate): 1.0.0 waits at
    'approve'..."""

    name = "api_moving"
    version = "1.0.0"
    steps = [Approve]
    edges = []


class ApiMovingTwo(Workflow):
    """... which 1.1.0 calls 'manager_approval', with a budget check after it."""

    name = "api_moving"
    version = "1.1.0"
    steps = [ManagerApproval, BudgetCheck]
    edges = [("manager_approval", "budget_check")]


class Write(BaseHumanStep):
    name = "write"
    title = "Write the report"
    assignee_group = "reviewers"


class Check(BaseHumanStep):
    name = "check"
    title = "Check the report"
    assignee_group = "reviewers"
    send_back_to = ["write"]


class ApiRework(Workflow):
    """Write, then check; the check may send the report back to be written again."""

    name = "api_rework"
    version = "1.0.0"
    steps = [Write, Check]
    edges = [("write", "check")]


class BoardApproval(BaseHumanStep):
    """One task per board member (the item is the member's user id); two approvals
    approve, one rejection rejects."""

    name = "board"
    title = "Approve the budget"
    form_schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}},
        "required": ["approved"],
    }
    for_each = "members"
    completion_condition = "approved >= 2 or rejected >= 1"

    def get_assignee(self, context: Any, item: Any = None) -> str | None:
        return item


class ApiBoard(Workflow):
    """A 2-of-N approval by the board members listed in ``members``."""

    name = "api_board"
    version = "1.0.0"
    steps = [BoardApproval]
    edges = []


class AwaitPaymentMessage(MessageStep):
    name = "paid"
    message = "api_payment_received"
    correlation_key = "order_id"


class ApiMessage(Workflow):
    """Waits for the message api_payment_received for its order_id (POST /messages)."""

    name = "api_message"
    version = "1.0.0"
    steps = [Prepare, AwaitPaymentMessage]
    edges = [("prepare", "paid")]


class Approve4(BaseHumanStep):
    name = "approve"
    title = "Approve the report"
    assignee_group = "reviewers"
    # four-eyes: neither who wrote the report nor who started the instance approves it
    exclude_completers_of = ["write"]
    exclude_starter = True
    send_back_to = ["write"]


class ApiFourEyes(Workflow):
    """Write, then approve: by someone who neither wrote it nor started the instance."""

    name = "api_four_eyes"
    version = "1.0.0"
    steps = [Write, Approve4]
    edges = [("write", "approve")]


class CallReview(SubworkflowStep):
    name = "call_review"
    workflow = "api_review"
    output = {"approved": "approved"}


class ApiSubflow(Workflow):
    """Prepare, then run an api_review instance (a child) and wait for it."""

    name = "api_subflow"
    version = "1.0.0"
    steps = [Prepare, CallReview]
    edges = [("prepare", "call_review")]


class Book(BaseMachineStep):
    """Books a room; its compensation cancels the booking (and fails the first time when
    the start data says ``undo_fails``)."""

    name = "book"

    def execute(self, context):
        context.set("booked", True)

    def compensate(self, context):
        undone_before = StepExecutionModel.objects.filter(
            instance_id=context.instance_id, step_type="compensation", status="failed"
        ).exists()
        if context.get("undo_fails") and not undone_before:
            raise RuntimeError("hotel unreachable")
        context.set("booked", False)


class Confirm(BaseHumanStep):
    name = "confirm"
    title = "Confirm the trip"
    assignee_group = "reviewers"


class Travel(BaseMachineStep):
    name = "travel"

    def execute(self, context):
        raise RuntimeError("flight canceled")


class ApiSaga(Workflow):
    """Books, waits for a confirmation, then fails: the booking is compensated."""

    name = "api_saga"
    version = "1.0.0"
    steps = [Book, Confirm, Travel]
    edges = [("book", "confirm"), ("confirm", "travel")]
