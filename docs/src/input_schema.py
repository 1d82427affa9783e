# A workflow's input schema: every start is checked against it.
from __future__ import annotations

from workflows_app import (
    BaseMachineStep,
    LocalExecutionEngine,
    Workflow,
    WorkflowRegistry,
    WorkflowValidationError,
)


class Book(BaseMachineStep):
    name = "book"

    def execute(self, context):
        context.set("booked", f"{context.get('nights')} nights in {context.get('city')}")


class HotelBooking(Workflow):
    name = "hotel_booking"
    steps = [Book]
    input_schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "title": "City", "minLength": 1},
            "nights": {"type": "integer", "title": "Nights", "minimum": 1, "maximum": 30},
        },
        "required": ["city", "nights"],
    }


registry = WorkflowRegistry()
registry.register(HotelBooking)
engine = LocalExecutionEngine(registry)


instance = engine.start_workflow_sync("hotel_booking", {"city": "Lyon", "nights": 2})
assert instance.context.get("booked") == "2 nights in Lyon"

try:
    engine.start_workflow_sync("hotel_booking", {"city": "Lyon", "nights": 0})
except WorkflowValidationError as exc:
    assert exc.field_errors == {"nights": ["0 is less than the minimum of 1"]}
    assert exc.errors == ["nights: 0 is less than the minimum of 1"]
else:
    raise AssertionError("a start against the input schema must be refused")
