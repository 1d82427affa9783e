"""TaskForm: a Django form from a step's JSON Schema, and the JSON it gives back."""

from __future__ import annotations

import pytest
from django import forms

from workflows_app.admin.forms import TaskForm

SCHEMA = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean", "title": "Approve"},
        "urgent": {"type": "boolean"},
        "amount": {"type": "number", "minimum": 0, "maximum": 1000},
        "count": {"type": "integer", "minimum": 1, "default": 2},
        "colour": {"type": "string", "enum": ["red", "green"], "enumNames": ["Red", "Green"]},
        "level": {"type": "integer", "enum": [1, 2, 3]},
        "name": {"type": "string", "minLength": 2, "maxLength": 20, "description": "Who"},
        "notes": {"type": "string", "maxLength": 2000},
        "summary": {"type": "string", "format": "textarea"},
        "due": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "items": {"type": "array", "items": {"type": "object"}},
        "address": {"type": "object"},
    },
    "required": ["approved", "amount", "colour"],
}


def test_fields__one_per_property_with_the_right_kind() -> None:
    form = TaskForm(SCHEMA)

    kinds = {name: type(field).__name__ for name, field in form.fields.items()}
    assert kinds == {
        "approved": "TypedChoiceField",
        "urgent": "BooleanField",
        "amount": "FloatField",
        "count": "IntegerField",
        "colour": "TypedChoiceField",
        "level": "TypedChoiceField",
        "name": "CharField",
        "notes": "CharField",
        "summary": "CharField",
        "due": "DateField",
        "at": "DateTimeField",
        "items": "JSONField",
        "address": "JSONField",
    }
    assert isinstance(form.fields["approved"].widget, forms.RadioSelect)
    assert isinstance(form.fields["notes"].widget, forms.Textarea)
    assert isinstance(form.fields["summary"].widget, forms.Textarea)
    assert isinstance(form.fields["name"].widget, forms.TextInput)
    assert form.fields["due"].widget.input_type == "date"
    assert form.fields["at"].widget.input_type == "datetime-local"


def test_fields__labels_help_required_initial_and_choices() -> None:
    form = TaskForm(SCHEMA)

    assert form.fields["approved"].label == "Approve"
    assert form.fields["urgent"].label == "Urgent"
    assert form.fields["name"].help_text == "Who"
    assert [name for name, field in form.fields.items() if field.required] == [
        "approved",
        "amount",
        "colour",
    ]
    assert form.fields["count"].initial == 2
    assert form.fields["colour"].choices == [("red", "Red"), ("green", "Green")]
    assert form.fields["level"].choices[0] == ("", "---------")


def test_output_data__json_values_and_empty_optionals_left_out() -> None:
    form = TaskForm(
        SCHEMA,
        data={
            "approved": "false",
            "amount": "12.5",
            "colour": "green",
            "level": "3",
            "count": "",
            "name": "",
            "due": "2026-12-01",
            "at": "2026-12-01T09:30",
            "items": '[{"qty": 2}]',
        },
    )

    assert form.is_valid(), form.errors
    data = form.output_data()
    assert data["approved"] is False
    assert data["amount"] == 12.5
    assert data["colour"] == "green"
    assert data["level"] == 3  # the enum's own type, not the text of the select
    assert data["due"] == "2026-12-01"
    assert data["at"].startswith("2026-12-01T09:30")
    assert data["items"] == [{"qty": 2}]
    assert "count" not in data and "name" not in data
    assert data["urgent"] is False  # an optional checkbox left unticked


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "-1"),
        ("amount", "1001"),
        ("amount", "lots"),
        ("colour", "blue"),
        ("name", "x"),
        ("due", "not a date"),
        ("items", "[unclosed"),
        ("approved", ""),
    ],
)
def test_validation__each_bad_value_is_an_error_at_its_field(field, value) -> None:
    data = {"approved": "true", "amount": "5", "colour": "red", field: value}

    form = TaskForm(SCHEMA, data=data)

    assert not form.is_valid()
    assert list(form.errors) == [field]


def test_add_schema_errors__at_the_top_level_field_or_the_whole_form() -> None:
    form = TaskForm(SCHEMA, data={"approved": "true", "amount": "5", "colour": "red"})
    assert form.is_valid()

    form.add_schema_errors({"items/0/qty": ["0 is less than 1"], "": ["Rejected by the step"]})

    assert form.errors["items"] == ["0 is less than 1"]
    assert form.non_field_errors() == ["Rejected by the step"]


def test_no_schema__an_empty_form() -> None:
    form = TaskForm(None, data={})

    assert form.is_valid()
    assert form.output_data() == {}


def test_a_whole_number_typed_in_a_number_field_stays_whole() -> None:
    form = TaskForm({"type": "object", "properties": {"x": {"type": "number"}}}, {"x": "38"})
    assert form.is_valid()
    assert form.output_data() == {"x": 38} and isinstance(form.output_data()["x"], int)
    form = TaskForm({"type": "object", "properties": {"x": {"type": "number"}}}, {"x": "38.5"})
    assert form.is_valid() and form.output_data() == {"x": 38.5}
