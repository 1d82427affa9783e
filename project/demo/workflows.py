"""The demo project's workflows, discovered when Django starts."""

from __future__ import annotations

from datetime import timedelta

from workflows_app import BaseHumanStep, BaseMachineStep, StepStatus, Workflow
from workflows_app.core import clock
from workflows_app.models import StepExecutionModel


class SubmitExpense(BaseMachineStep):
    name = "submit"
    description = "Record the expense claim."

    def execute(self, context):
        context.set("submitted", True)


class ManagerApproval(BaseHumanStep):
    name = "manager_approval"
    title = "Approve an expense claim"
    description = "Check the amount and the receipt, then approve or reject the claim."
    assignee_group = "managers"
    form_schema = {
        "type": "object",
        "properties": {
            "approved": {"type": "boolean", "title": "Approve"},
            "comment": {"type": "string", "title": "Comment"},
        },
        "required": ["approved"],
    }

    def get_title(self, context):
        """The claim's description after the title, when it has one."""
        description = context.get("description")
        return f"{self.title}: {description}" if description else self.title

    def get_due_date(self, context):
        """Due ``review_within_days`` days after the claim reaches the managers, when the
        claim says (the demo data gives one a negative delay: it is overdue at once)."""
        days = context.get("review_within_days")
        return None if days is None else clock.utcnow() + timedelta(days=days)


class Reimburse(BaseMachineStep):
    name = "reimburse"

    def execute(self, context):
        context.set("reimbursed", context.get("amount", 0))


class NotifyRejection(BaseMachineStep):
    name = "notify_rejection"

    def execute(self, context):
        context.set("reimbursed", 0)


class ExpenseApproval(Workflow):
    """A manager approves an expense claim before it is reimbursed."""

    name = "expense_approval"
    version = "1.0.0"
    # The admin's start form is built from it; every start is checked against it.
    input_schema = {
        "type": "object",
        "properties": {
            "description": {"type": "string", "title": "What for", "maxLength": 200},
            "amount": {
                "type": "number",
                "title": "Amount",
                "description": "In euros.",
                "exclusiveMinimum": 0,
            },
            "review_within_days": {
                "type": "integer",
                "title": "Review within (days)",
                "description": "The managers' task is due this many days after it is offered.",
            },
        },
        "required": ["amount"],
    }
    steps = [SubmitExpense, ManagerApproval, Reimburse, NotifyRejection]
    edges = [
        ("submit", "manager_approval"),
        ("manager_approval", "reimburse", "approved"),
        ("manager_approval", "notify_rejection", "not approved"),
    ]


class Validate(BaseMachineStep):
    name = "validate"

    def execute(self, context):
        context.set("valid", bool(context.get("order_id")))


class Enrich(BaseMachineStep):
    name = "enrich"

    def execute(self, context):
        context.set("customer", f"customer-of-{context.get('order_id')}")


class Notify(BaseMachineStep):
    name = "notify"

    def execute(self, context):
        context.set("notified", True)


class OrderPipeline(Workflow):
    """Three machine steps: what a worker, or a Celery worker, runs in the background."""

    name = "order_pipeline"
    version = "1.0.0"
    steps = [Validate, Enrich, Notify]
    edges = [("validate", "enrich"), ("enrich", "notify")]


class SyncToLedger(BaseMachineStep):
    """Posts the payment to the ledger. The demo's ledger is down the first time an
    instance gets here: the step fails, and retrying the instance succeeds (no data changes)."""

    name = "sync_to_ledger"
    description = "Post the payment to the accounting ledger."

    def execute(self, context):
        failed_before = StepExecutionModel.objects.filter(
            instance_id=context.instance_id, step_name=self.name, status=StepStatus.FAILED
        ).exists()
        if not failed_before:
            raise ConnectionError("the ledger service did not answer (demo: retry me)")
        context.set("ledger_entry", f"LEDGER-{str(context.instance_id)[:8].upper()}")


class LedgerSync(Workflow):
    """A payment posted to the ledger: its machine step fails once, then a retry mends it."""

    name = "ledger_sync"
    version = "1.0.0"
    steps = [Validate, SyncToLedger]
    edges = [("validate", "sync_to_ledger")]
