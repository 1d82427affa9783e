"""Subworkflows in the REST API, on the three transports: an instance's ``parent_id`` and
``parent_step``, and the detail's ``children``; another tenant's child is not listed."""

from __future__ import annotations

import pytest

from workflows_app.models import WorkflowInstanceModel

PERMS = ["start_workflow", "view_workflowinstancemodel"]


@pytest.fixture
def ann(make_caller):
    return make_caller("ann", groups=["reviewers"], perms=PERMS, tenant="acme")


def test_parent_and_children_links(client, ann) -> None:
    answer = client.post("/instances", ann, json={"definition_name": "api_subflow"})
    assert answer.status_code == 201, answer
    parent = answer.json()
    assert (parent["status"], parent["parent_id"]) == ("waiting", None)
    child = WorkflowInstanceModel.objects.get(parent_id=parent["id"])

    detail = client.get(f"/instances/{parent['id']}", ann).json()
    assert detail["children"] == [
        {
            "id": str(child.pk),
            "workflow": "api_review",
            "status": "waiting",
            "parent_step": "call_review",
        }
    ]
    seen = client.get(f"/instances/{child.pk}", ann).json()
    assert (seen["parent_id"], seen["parent_step"], seen["children"]) == (
        parent["id"],
        "call_review",
        [],
    )
    listed = client.get("/instances?workflow_name=api_review", ann).json()
    assert {item["parent_id"] for item in listed} == {parent["id"]}


def test_another_tenants_children_are_not_listed(client, ann, make_caller) -> None:
    parent = client.post("/instances", ann, json={"definition_name": "api_subflow"}).json()
    WorkflowInstanceModel.objects.filter(parent_id=parent["id"]).update(tenant_id="other")
    detail = client.get(f"/instances/{parent['id']}", ann).json()
    assert detail["children"] == []


def test_instance_graph_shows_the_children_by_id(client, ann) -> None:
    parent = client.post("/instances", ann, json={"definition_name": "api_subflow"}).json()
    child = WorkflowInstanceModel.objects.get(parent_id=parent["id"])

    lines = client.get(f"/instances/{parent['id']}/graph", ann).json()["mermaid_source"]
    lines = lines.splitlines()
    assert f'    wf_child_1(["api_review {child.pk}: waiting"])' in lines
    assert "    call_review -.-> wf_child_1" in lines
    assert not [line for line in lines if line.lstrip().startswith("click")]

    WorkflowInstanceModel.objects.filter(parent_id=parent["id"]).update(tenant_id="other")
    source = client.get(f"/instances/{parent['id']}/graph", ann).json()["mermaid_source"]
    assert "wf_child_" not in source
