# Moving waiting instances to a new version (docs/migrations.rst).
from __future__ import annotations

from workflows_app import BaseHumanStep, BaseMachineStep, MigrationPlan, Workflow, WorkflowRegistry
from workflows_app.db import PersistentExecutionEngine


class ManagerApproval(BaseHumanStep):
    name = "manager_approval"
    title = "Approve the expense"
    assignee_group = "managers"


class Pay(BaseMachineStep):
    name = "pay"

    def execute(self, context):
        context.set("paid", True)


class ExpenseApproval(Workflow):
    name = "expense_approval"
    version = "1.0.0"
    steps = [ManagerApproval, Pay]
    edges = [("manager_approval", "pay")]


# [v2]
class Approval(BaseHumanStep):  # the approval step, renamed
    name = "approval"
    title = "Approve the expense"
    assignee_group = "managers"


class CheckBudget(BaseMachineStep):  # a new step before the payment
    name = "check_budget"

    def execute(self, context):
        context.set("within_budget", True)


class ExpenseApprovalV2(Workflow):
    name = "expense_approval"
    version = "1.1.0"
    steps = [Approval, CheckBudget, Pay]
    edges = [("approval", "check_budget"), ("check_budget", "pay")]


# [/v2]


registry = WorkflowRegistry()
registry.register(ExpenseApproval)
engine = PersistentExecutionEngine(registry)
waiting = engine.start_workflow_sync("expense_approval")  # waits at manager_approval
registry.register(ExpenseApprovalV2)  # deployed later; new starts take 1.1.0

# [plan]
plan = MigrationPlan(
    workflow="expense_approval",
    from_version="1.0.0",
    to_version="1.1.0",
    mapping={"manager_approval": "approval"},
)
preview = engine.plan_migration_sync(plan)  # writes nothing
print(preview.problems, preview.diff.steps_added, len(preview.movable))
result = engine.migrate_instances_sync(plan, by="ops")
print(len(result.moved), result.skipped)
# [/plan]

assert preview.problems == []
assert preview.diff.steps_added == ["check_budget"]
assert preview.diff.steps_renamed == [("manager_approval", "approval")]
assert result.moved == [waiting.id]

# The task is now the approval step's; the instance runs on through the new step.
done = engine.complete_human_task_sync(waiting.id, "approval", "maria", {})
assert done.status == "completed"
assert done.context.get("within_budget") is True

# Moving back works wherever moving forward did.
again = engine.start_workflow_sync("expense_approval", version="1.0.0")
assert engine.migrate_instances_sync(plan, [again.id]).moved == [again.id]
assert engine.migrate_instances_sync(plan.inverse(), [again.id]).moved == [again.id]
