"""Django forms built from a human step's ``form_schema`` (JSON Schema), for the admin.

One form field per property of the schema's top level:

========================  ==============================================================
JSON Schema               Form field
========================  ==============================================================
``enum``                  a select (``enumNames`` as labels), its value of the enum's type
``boolean``               required: Yes / No radio buttons (no silent "false");
                          optional: a checkbox
``integer`` / ``number``  a number input, with ``minimum`` / ``maximum``
``string``                a text input, ``minLength`` / ``maxLength``; a text area for
                          ``format: textarea`` or ``maxLength`` over 200
``format: date``          a date input; ``format: date-time``: a date and time input
``object`` / ``array``    a JSON text area (nested structures are edited as JSON)
========================  ==============================================================

``title`` is the label, ``description`` the help text, ``default`` the initial value,
``required`` makes a field required. The form's cleaned data is JSON (dates as ISO
strings, empty optional fields left out); the engine then validates it against the
whole schema, and :meth:`TaskForm.add_schema_errors` puts each of its errors at its
field.

The same form is a workflow's start form when the workflow declares an
``input_schema``; without one, :class:`JsonObjectForm` takes the initial data as a JSON
object typed in a text area.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms

__all__ = ["JsonObjectForm", "TaskForm", "start_form"]

TEXTAREA_ABOVE = 200


class TaskForm(forms.Form):
    """A form for ``schema`` (a JSON Schema of ``type: object``)."""

    def __init__(self, schema: dict[str, Any] | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema or {}
        required = set(self.schema.get("required") or ())
        properties = self.schema.get("properties") or {}
        for name, spec in properties.items():
            if isinstance(spec, dict):
                self.fields[name] = _field(name, spec, name in required)

    def output_data(self) -> dict[str, Any]:
        """The cleaned data as the JSON object to complete the task with."""
        data: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if value is None or value == "":
                continue  # an optional field left empty: absent, not null
            data[name] = _to_json(value)
        return data

    def add_schema_errors(self, field_errors: dict[str, list[str]]) -> None:
        """Show the engine's errors (``{"items/0/qty": [...]}``) at their fields."""
        for path, messages in field_errors.items():
            name = path.split("/", 1)[0]
            for message in messages:
                self.add_error(name if name in self.fields else None, message)


class JsonObjectForm(forms.Form):
    """A JSON object typed in a text area: the start form of a workflow without an
    ``input_schema``. Not JSON, or JSON but not an object, is an error at the field."""

    data = forms.JSONField(
        label="Input data",
        initial=dict,
        required=False,  # {} is an answer; Django's fields take it for "empty"
        help_text='A JSON object, such as {"amount": 120}; it becomes the instance\'s data. '
        "Empty: no data.",
        widget=forms.Textarea(attrs={"rows": 10, "class": "vLargeTextField wf-json-input"}),
    )

    def clean_data(self) -> dict[str, Any]:
        value = self.cleaned_data["data"]
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Enter a JSON object: {...}.")
        return value

    def output_data(self) -> dict[str, Any]:
        return self.cleaned_data["data"]

    def add_schema_errors(self, field_errors: dict[str, list[str]]) -> None:
        """Show the engine's errors at the one field, each with its path."""
        for path, messages in field_errors.items():
            for message in messages:
                self.add_error("data", f"{path}: {message}" if path else message)


def start_form(
    schema: dict[str, Any] | None, *args: Any, **kwargs: Any
) -> TaskForm | JsonObjectForm:
    """The start form of a workflow whose ``input_schema`` is ``schema`` (or None): fields
    for the schema's properties, or the JSON text area when it names none."""
    if schema and isinstance(schema.get("properties"), dict) and schema["properties"]:
        return TaskForm(schema, *args, **kwargs)
    return JsonObjectForm(*args, **kwargs)


def _field(name: str, spec: dict[str, Any], required: bool) -> forms.Field:
    common: dict[str, Any] = {
        "label": spec.get("title") or name.replace("_", " ").capitalize(),
        "help_text": spec.get("description", ""),
        "required": required,
    }
    if "default" in spec:
        common["initial"] = spec["default"]
    kind = spec.get("type")
    if "enum" in spec:
        values = list(spec["enum"])
        labels = spec.get("enumNames") or [str(value) for value in values]
        choices = [(str(value), str(label)) for value, label in zip(values, labels, strict=False)]
        if not required:
            choices.insert(0, ("", "---------"))
        by_text = {str(value): value for value in values}
        return forms.TypedChoiceField(
            choices=choices, coerce=by_text.__getitem__, empty_value=None, **common
        )
    if kind == "boolean":
        if required:
            return forms.TypedChoiceField(
                choices=[("true", "Yes"), ("false", "No")],
                coerce=lambda text: text == "true",
                widget=forms.RadioSelect,
                **common,
            )
        return forms.BooleanField(**{**common, "required": False})
    if kind in ("integer", "number"):
        bounds = {
            "min_value": spec.get("minimum"),
            "max_value": spec.get("maximum"),
        }
        field_class = forms.IntegerField if kind == "integer" else forms.FloatField
        return field_class(**bounds, **common)
    if kind == "string":
        fmt = spec.get("format")
        if fmt == "date":
            return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
        if fmt == "date-time":
            return forms.DateTimeField(
                widget=forms.DateTimeInput(
                    attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
                ),
                **common,
            )
        max_length = spec.get("maxLength")
        long_text = fmt == "textarea" or (max_length is not None and max_length > TEXTAREA_ABOVE)
        return forms.CharField(
            max_length=max_length,
            min_length=spec.get("minLength"),
            widget=forms.Textarea(attrs={"rows": 4}) if long_text else forms.TextInput,
            strip=False,
            **common,
        )
    # Objects, arrays, and properties of no single type: JSON, edited as text.
    return forms.JSONField(
        widget=forms.Textarea(attrs={"rows": 6, "class": "vLargeTextField"}), **common
    )


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)  # a "number" typed as 38 is 38, not 38.0
    return value
