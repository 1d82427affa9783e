"""A workflow's ``input_schema``: every start's ``initial_data`` must match it, on every
engine (the rule is ``semantics.check_start_input``)."""

from __future__ import annotations

import pytest

from tests.engine_contract.kit import marker
from workflows_app import Workflow, WorkflowValidationError

SCHEMA = {
    "type": "object",
    "properties": {
        "amount": {"type": "number", "exclusiveMinimum": 0},
        "items": {"type": "array", "items": {"type": "object", "required": ["sku"]}},
    },
    "required": ["amount"],
}


def claim(schema: dict | None = SCHEMA) -> type[Workflow]:
    class Claim(Workflow):
        name = "contract_input_claim"
        steps = [marker("A")]
        input_schema = schema

    return Claim


def test_start_with_data_that_matches_the_input_schema(harness) -> None:
    instance = harness.get(harness.start(claim(), {"amount": 12, "note": "extra is fine"}))
    assert instance.status == "completed"
    assert instance.data == {"amount": 12, "note": "extra is fine", "a_done": True}


@pytest.mark.parametrize(
    ("data", "field_errors"),
    [
        pytest.param(None, {"amount": ["This field is required."]}, id="no-data"),
        pytest.param({}, {"amount": ["This field is required."]}, id="missing"),
        pytest.param(
            {"amount": 0, "items": [{"sku": "A-1"}, {}]},
            {
                "amount": ["0 is less than or equal to the minimum of 0"],
                "items/1/sku": ["This field is required."],
            },
            id="two-problems",
        ),
    ],
)
def test_start_against_the_input_schema_raises_and_changes_nothing(
    harness, data, field_errors
) -> None:
    workflow = claim()
    before = harness.fingerprint()
    with pytest.raises(WorkflowValidationError) as excinfo:
        harness.start(workflow, data)
    assert excinfo.value.field_errors == field_errors
    assert excinfo.value.errors == [
        f"{path}: {message}" for path, messages in field_errors.items() for message in messages
    ]
    assert harness.fingerprint() == before


def test_an_input_schema_that_is_no_json_schema_is_refused_at_start(harness) -> None:
    workflow = claim({"type": "no-such-type"})
    before = harness.fingerprint()
    with pytest.raises(WorkflowValidationError, match="input_schema of workflow") as excinfo:
        harness.start(workflow, {"amount": 1})
    assert excinfo.value.field_errors == {}
    assert harness.fingerprint() == before


def test_without_an_input_schema_any_object_starts(harness) -> None:
    instance = harness.get(harness.start(claim(None), {"whatever": [1, 2]}))
    assert instance.status == "completed"
