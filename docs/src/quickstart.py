# The quick start: an expense approval with one human step.
from __future__ import annotations

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    LocalExecutionEngine,
    Workflow,
    WorkflowRegistry,
)


class Submit(BaseMachineStep):
    name = "submit"

    def execute(self, context):
        context.set("submitted", True)


class Review(BaseHumanStep):
    name = "review"
    title = "Review the expense"
    form_schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}, "comment": {"type": "string"}},
        "required": ["approved"],
    }


class Pay(BaseMachineStep):
    name = "pay"

    def execute(self, context):
        context.set("paid", context.get("amount"))


class Reject(BaseMachineStep):
    name = "reject"

    def execute(self, context):
        context.set("paid", 0)


class ExpenseApproval(Workflow):
    name = "expense_approval"
    version = "1.0.0"
    description = "Approve an expense, then pay it."
    steps = [Submit, Review, Pay, Reject]
    edges = [
        ("submit", "review"),
        ("review", "pay", "approved"),
        ("review", "reject", "not approved"),
    ]


# Start it
registry = WorkflowRegistry()
registry.register(ExpenseApproval)
engine = LocalExecutionEngine(registry)

instance = engine.start_workflow_sync("expense_approval", {"amount": 120})
assert instance.status == "waiting"
assert instance.current_step == "review"

engine.complete_human_task_sync(instance.id, "review", "alice", {"approved": True})
assert instance.status == "completed"
assert instance.context.data["paid"] == 120
