# Database persistence: run with a Django database (the test suite runs it on each one).
from __future__ import annotations

from datetime import timedelta

from workflows_app import BaseHumanStep, BaseMachineStep, Workflow, WorkflowRegistry
from workflows_app.db import HumanTaskModel, PersistentExecutionEngine, WorkflowInstanceModel


class Prepare(BaseMachineStep):
    name = "prepare"

    def execute(self, context):
        context.set("manager", "maria")


class ManagerApproval(BaseHumanStep):
    name = "manager_approval"
    title = "Approve the purchase"
    assignee_key = "manager"  # the task goes to context["manager"]
    assignee_group = "managers"
    due_in = timedelta(days=3)
    form_schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}, "comments": {"type": "string"}},
        "required": ["approved"],
    }


class Order(BaseMachineStep):
    name = "order"

    def execute(self, context):
        context.set("ordered", context.get("approved"))


class Purchase(Workflow):
    name = "purchase"
    version = "1.0.0"
    steps = [Prepare, ManagerApproval, Order]
    edges = [("prepare", "manager_approval"), ("manager_approval", "order")]


registry = WorkflowRegistry()
registry.register(Purchase)
engine = PersistentExecutionEngine(registry=registry)

# Start: the instance waits at the human step; a task row waits in the inbox.
instance = engine.start_workflow_sync(
    Purchase,
    initial_data={"item": "laptop"},
    tenant_id="acme-corp",
    created_by="user@example.com",
)
assert instance.status == "waiting"

# The inbox: pending tasks for a user and their groups, in one query.
tasks = HumanTaskModel.objects.find_pending(
    assignee_id="maria", assignee_group=["managers", "it"], tenant_id="acme-corp"
)
task = tasks[0]
assert (task.title, task.assignee_id, task.assignee_group) == (
    "Approve the purchase",
    "maria",
    "managers",
)
assert task.due_at is not None

# Complete the task: the data is validated, merged into the context, and the workflow runs on.
instance = engine.complete_human_task_sync(
    instance.id, "manager_approval", "maria", {"approved": True, "comments": "Go ahead"}
)
assert instance.status == "completed"

row = WorkflowInstanceModel.objects.get(pk=instance.id)
assert row.context_data["ordered"] is True
page, total = WorkflowInstanceModel.objects.find_by_tenant("acme-corp", status="completed")
assert total == 1 and page[0].pk == instance.id
