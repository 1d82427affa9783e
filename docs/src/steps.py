# Step kinds, guards, hooks, gateways and human steps.
from __future__ import annotations

from datetime import timedelta

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    ExclusiveGateway,
    LocalExecutionEngine,
    Workflow,
    WorkflowRegistry,
)


class Charge(BaseMachineStep):
    name = "charge"

    async def can_execute(self, context):
        return context.get("amount", 0) > 0  # False: the step is skipped

    async def execute(self, context):
        context.set("charged", context.get("amount"))
        return {"charged": context.get("amount")}

    async def on_failure(self, context, error):
        context.set("charge_error", str(error))


class Route(ExclusiveGateway):
    name = "route"

    @staticmethod
    def condition(context):
        return "manual_check" if context.get("amount") >= 1000 else "done"


class ManualCheck(BaseHumanStep):
    name = "manual_check"
    title = "Check a large payment"
    assignee_group = "finance"
    due_in = timedelta(days=2)
    form_schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
    }


class Done(BaseMachineStep):
    name = "done"

    def execute(self, context):
        context.set("done", True)


class Payment(Workflow):
    name = "payment"
    steps = [Charge, Route, ManualCheck, Done]
    edges = [
        ("charge", "route"),
        ("route", "manual_check"),
        ("route", "done"),
        ("manual_check", "done"),
    ]


registry = WorkflowRegistry()
registry.register(Payment)
engine = LocalExecutionEngine(registry)

small = engine.start_workflow_sync("payment", {"amount": 50})
assert small.status == "completed"
assert [e.step_name for e in small.context.step_history] == ["charge", "route", "done"]

large = engine.start_workflow_sync("payment", {"amount": 5000})
assert large.status == "waiting" and large.current_step == "manual_check"
engine.complete_human_task_sync(large.id, "manual_check", "bob", {"ok": True})
assert large.status == "completed"

free = engine.start_workflow_sync("payment", {"amount": 0})
assert free.context.step_history[0].status == "skipped"
