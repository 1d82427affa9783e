"""Starting a workflow from the admin: the pages under the instances' list, through the
Django test client as staff users, on the real engine.

``expense_approval`` (the demo's) declares an ``input_schema`` (``amount`` required and
above 0, an optional ``description`` and ``review_within_days``): its start form has a field
for each. ``api_review`` (``tests/api/workflows.py``) declares none: its start form is a
JSON text area.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from tests.admin.console_support import make_staff, messages_of
from tests.api import workflows
from workflows_app.core.registry import default_registry
from workflows_app.models import HumanTaskModel, WorkflowDefinitionModel, WorkflowInstanceModel
from workflows_app.services import get_service

pytestmark = pytest.mark.django_db

LIST = reverse("admin:workflows_app_workflowinstancemodel_changelist")
PICK = reverse("admin:workflows_app_workflowinstancemodel_start")


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


def form_url(name: str) -> str:
    return reverse("admin:workflows_app_workflowinstancemodel_start_form", args=[name])


def written() -> tuple[int, int]:
    return WorkflowInstanceModel.objects.count(), HumanTaskModel.objects.count()


@pytest.fixture
def starter():
    return make_staff("stella", groups=("managers",), perms=("start_workflow",), tenant="acme")


def test_start__without_the_permission_is_forbidden_and_writes_nothing() -> None:
    viewer = make_staff("vera", perms=("view_workflowinstancemodel",), tenant="acme")

    assert viewer.get(PICK).status_code == 403
    assert viewer.get(form_url("expense_approval")).status_code == 403
    answer = viewer.post(form_url("expense_approval"), {"amount": "12"})
    assert answer.status_code == 403
    assert written() == (0, 0)
    assert b"wf-start-link" not in viewer.get(LIST).content


def test_start__lists_the_workflows_to_start(starter) -> None:
    response = starter.get(PICK)

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<a href="{form_url("expense_approval")}">expense_approval</a>' in html
    assert f'<a href="{form_url("api_review")}">api_review</a>' in html
    # The list of instances offers the way here.
    assert f'href="{PICK}" class="addlink" id="wf-start-link"' in starter.get(LIST).content.decode()


def test_start__a_deactivated_version_is_not_offered_and_not_started(starter) -> None:
    get_service().engine.sync_definitions()
    WorkflowDefinitionModel.objects.deactivate_version("api_review", "1.0.0")

    html = starter.get(PICK).content.decode()
    assert "api_review <em>(deactivated" in html
    answer = starter.post(form_url("api_review"), {"data": "{}"})
    assert answer.status_code == 200
    assert any("deactivated" in message for message in messages_of(answer))
    assert written() == (0, 0)


def test_start__the_form_comes_from_the_input_schema(starter) -> None:
    response = starter.get(form_url("expense_approval"))

    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.fields) == ["description", "amount", "review_within_days"]
    assert [name for name, field in form.fields.items() if field.required] == ["amount"]
    html = response.content.decode()
    assert 'id="wf-start-form"' in html and 'name="version" value="1.0.0"' in html


def test_start__a_valid_form_starts_the_instance_and_opens_its_page(starter) -> None:
    answer = starter.post(
        form_url("expense_approval"),
        {"version": "1.0.0", "description": "Train to Lyon", "amount": "89.5"},
    )

    [instance] = WorkflowInstanceModel.objects.all()
    assert answer.status_code == 302
    assert answer["Location"] == reverse(
        "admin:workflows_app_workflowinstancemodel_change", args=[instance.pk]
    )
    assert (instance.workflow_name, instance.status, instance.created_by, instance.tenant_id) == (
        "expense_approval",
        "waiting",
        "stella",
        "acme",
    )
    assert instance.context_data["description"] == "Train to Lyon"
    assert instance.context_data["amount"] == 89.5
    assert "review_within_days" not in instance.context_data  # left empty: absent
    page = starter.get(answer["Location"])
    assert messages_of(page) == ["Started expense_approval 1.0.0: the instance is waiting."]


@pytest.mark.parametrize(
    ("posted", "field", "error"),
    [
        pytest.param({"description": "Lunch"}, "amount", "This field is required.", id="form"),
        # The form takes 0; the engine, checking the input schema, does not.
        pytest.param(
            {"amount": "0"}, "amount", "0 is less than or equal to the minimum of 0", id="engine"
        ),
    ],
)
def test_start__invalid_input_shows_errors_at_the_fields_and_writes_nothing(
    starter, posted, field, error
) -> None:
    response = starter.post(form_url("expense_approval"), posted)

    assert response.status_code == 200
    assert response.context["form"].errors == {field: [error]}
    assert written() == (0, 0)


def test_start__without_an_input_schema_the_form_is_a_json_object(starter) -> None:
    response = starter.get(form_url("api_review"))
    assert list(response.context["form"].fields) == ["data"]
    assert "declares no input schema" in response.content.decode()

    for text, error in [
        ("{not json", "Enter a valid JSON."),
        ("[1, 2]", "Enter a JSON object: {...}."),
    ]:
        refused = starter.post(form_url("api_review"), {"data": text})
        assert refused.status_code == 200
        assert refused.context["form"].errors == {"data": [error]}, text
    assert written() == (0, 0)

    answer = starter.post(form_url("api_review"), {"data": json.dumps({"doc": "d-1"})})
    [instance] = WorkflowInstanceModel.objects.all()
    assert answer.status_code == 302 and str(instance.pk) in answer["Location"]
    assert instance.context_data["doc"] == "d-1"
    assert instance.status == "waiting"


def test_start__an_unknown_workflow_is_404(starter) -> None:
    assert starter.get(form_url("no_such_workflow")).status_code == 404
    assert starter.post(form_url("no_such_workflow"), {"data": "{}"}).status_code == 404
