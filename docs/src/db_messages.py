# Messages correlated by business key (docs/messages.rst).
from __future__ import annotations

from workflows_app import BaseMachineStep, MessageStep, Workflow, WorkflowRegistry
from workflows_app.db import PersistentExecutionEngine


# [workflow]
class PlaceOrder(BaseMachineStep):
    name = "place_order"

    def execute(self, context):
        context.set("placed", True)


class PaymentReceived(MessageStep):
    name = "payment"  # the payload goes to context["payment"]
    message = "payment_received"
    correlation_key = "order_id"  # waits for the value of context["order_id"]


class Ship(BaseMachineStep):
    name = "ship"

    def execute(self, context):
        context.set("shipped", context.get("payment")["amount"] > 0)


class OrderFulfilment(Workflow):
    name = "order_fulfilment"
    version = "1.0.0"
    steps = [PlaceOrder, PaymentReceived, Ship]
    edges = [("place_order", "payment"), ("payment", "ship")]


# [/workflow]


registry = WorkflowRegistry()
registry.register(OrderFulfilment)
engine = PersistentExecutionEngine(registry)

# [publish]
order = engine.start_workflow_sync("order_fulfilment", {"order_id": 1042})
assert order.status == "waiting"  # subscribed to payment_received for "1042"

result = engine.publish_message_sync(
    "payment_received", "1042", {"amount": 250}, message_id="psp-9f2c"
)
assert result.outcome == "delivered" and result.instance_id == order.id
assert engine.get_instance_sync(order.id).context.data["shipped"] is True

again = engine.publish_message_sync(
    "payment_received", "1042", {"amount": 250}, message_id="psp-9f2c"
)
assert again.outcome == "duplicate"  # the payment provider sent it twice
# [/publish]

# [buffer]
early = engine.publish_message_sync("payment_received", 1043, {"amount": 80}, ttl=3600)
assert early.outcome == "buffered"  # nobody waits for order 1043 yet

late = engine.start_workflow_sync("order_fulfilment", {"order_id": 1043})
assert late.status == "completed"  # its message step received the buffered message
# [/buffer]


# [start]
class Returns(Workflow):
    name = "returns"
    version = "1.0.0"
    start_on_message = "return_requested"
    correlation_key = "order_id"  # the initial data gets the message's key here
    steps = [MessageStep(name="parcel", message="parcel_arrived", correlation_key="order_id")]
    edges = []


registry.register(Returns)
first = engine.publish_message_sync("return_requested", "1042", {"reason": "too small"})
assert first.outcome == "started"
second = engine.publish_message_sync("return_requested", "1042", {"reason": "again"})
assert second.outcome == "dropped"  # the return of order 1042 is still running
# [/start]
