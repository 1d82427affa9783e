# Compensation: undo the completed steps of an order that failed (docs/compensation.rst).
from __future__ import annotations

from datetime import timedelta

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    RetryPolicy,
    Workflow,
    WorkflowRegistry,
)
from workflows_app.db import HumanTaskModel, PersistentExecutionEngine, StepExecutionModel

undone = []


class Charge(BaseMachineStep):
    name = "charge"
    # Refunds go to a flaky payment service: try a refund three times.
    compensate_retry_policy = RetryPolicy(max_attempts=3, initial_interval=timedelta(0))

    def execute(self, context):
        context.set("payment_id", "pay-42")

    def compensate(self, context):  # plain or async def
        undone.append(f"refund {context.get('payment_id')}")


class ReleaseStock(BaseMachineStep):
    """A compensation may also be a step of its own, given as ``compensate=``."""

    name = "release_stock"

    async def execute(self, context):
        undone.append(f"release {context.get('reservation')}")


class ReserveStock(BaseMachineStep):
    name = "reserve"
    compensate = ReleaseStock

    def execute(self, context):
        context.set("reservation", "res-7")


class Ship(BaseMachineStep):
    name = "ship"

    def execute(self, context):
        raise RuntimeError("the carrier refused the parcel")


class Order(Workflow):
    name = "order"
    steps = [Charge, ReserveStock, Ship]
    edges = [("charge", "reserve"), ("reserve", "ship")]


registry = WorkflowRegistry()
registry.register(Order)
engine = PersistentExecutionEngine(registry)

# The shipment fails: the reservation is released, then the card refunded, each once.
order = engine.start_workflow_sync("order")
assert undone == ["release res-7", "refund pay-42"]
assert order.status == "failed"
assert order.error == "the carrier refused the parcel"
record = order.context.metadata["compensation"]
assert (record["status"], record["cause"], record["done"]) == (
    "completed",
    "failed",
    ["reserve", "charge"],
)
rows = StepExecutionModel.objects.filter(instance_id=order.id, step_type="compensation")
assert [(r.step_name, r.status) for r in rows.order_by("started_at")] == [
    ("reserve", "succeeded"),
    ("charge", "succeeded"),
]


# A cancel undoes the completed steps too, when asked to.
class Approve(BaseHumanStep):
    name = "approve"
    assignee_group = "sales"


class ApprovedOrder(Workflow):
    name = "approved_order"
    steps = [Charge, Approve]
    edges = [("charge", "approve")]


registry.register(ApprovedOrder)
undone.clear()
waiting = engine.start_workflow_sync("approved_order")
canceled = engine.cancel_workflow_sync(waiting.id, "customer withdrew", compensate=True)
assert (canceled.status, undone) == ("canceled", ["refund pay-42"])
assert HumanTaskModel.objects.get(instance_id=waiting.id).status == "canceled"
