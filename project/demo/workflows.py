"""The demo project's workflows, discovered when Django starts."""

from __future__ import annotations

from workflows_app import BaseHumanStep, BaseMachineStep, Workflow


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
