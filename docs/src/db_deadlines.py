# Deadlines: a reminder, a due date and an escalation (docs/deadlines.rst).
from __future__ import annotations

from datetime import timedelta

from workflows_app import BaseHumanStep, BaseMachineStep, Workflow, WorkflowRegistry
from workflows_app.core.steps import Escalation
from workflows_app.db import HumanTaskModel, PersistentExecutionEngine
from workflows_app.engine.worker import Worker


class Approve(BaseHumanStep):
    name = "approve"
    title = "Approve the purchase order"
    assignee_group = "managers"
    reminder_in = timedelta(hours=20)
    due_in = timedelta(0)  # due at once, so that this example shows the escalation
    escalation = Escalation(assignee_group="directors")


class Order(BaseMachineStep):
    name = "order"

    def execute(self, context):
        context.set("ordered", True)


class PurchaseOrder(Workflow):
    name = "purchase_order"
    steps = [Approve, Order]
    edges = [("approve", "order")]


registry = WorkflowRegistry()
registry.register(PurchaseOrder)
engine = PersistentExecutionEngine(registry)
instance = engine.start_workflow_sync("purchase_order")

Worker(engine, burst=True).run()  # a worker marks the task overdue and escalates it

task = HumanTaskModel.objects.get(instance_id=instance.id)
assert task.overdue_at is not None
assert (task.status, task.assignee_group) == ("pending", "directors")

# A person can reassign a task too (the REST API and the admin call this).
engine.reassign_task_sync(task.pk, assignee_id="dana", reason="She has the budget figures")
