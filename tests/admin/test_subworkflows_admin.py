"""Subworkflows in the admin: an instance's page links its parent and lists its children
(those the user's tenant sees), each with its status."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.admin.console_support import OPERATOR_PERMS, make_staff, start
from tests.api import workflows
from workflows_app.core.registry import default_registry
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


@pytest.fixture
def viewer() -> Client:
    return make_staff("viewer", perms=OPERATOR_PERMS, tenant="acme")


def page(pk) -> str:
    return reverse("admin:workflows_app_workflowinstancemodel_change", args=[pk])


def test_page_links_parent_and_children(viewer) -> None:
    parent = start("api_subflow", tenant="acme")
    child = WorkflowInstanceModel.objects.get(parent_id=parent.pk)

    text = viewer.get(page(parent.pk)).content.decode()
    assert 'id="wf-instance-children"' in text
    assert page(child.pk) in text and "api_review" in text and "step call_review" in text
    assert 'id="wf-instance-parent"' not in text

    text = viewer.get(page(child.pk)).content.decode()
    assert 'id="wf-instance-parent"' in text and page(parent.pk) in text
    assert 'id="wf-instance-children"' not in text


def test_another_tenants_child_is_not_listed(viewer) -> None:
    parent = start("api_subflow", tenant="acme")
    WorkflowInstanceModel.objects.filter(parent_id=parent.pk).update(tenant_id="other")
    text = viewer.get(page(parent.pk)).content.decode()
    assert 'id="wf-instance-children"' not in text


def test_graph_links_the_children(viewer) -> None:
    parent = start("api_subflow", tenant="acme")
    child = WorkflowInstanceModel.objects.get(parent_id=parent.pk)

    mermaid = viewer.get(page(parent.pk)).context["mermaid"].splitlines()
    assert f'    wf_child_1(["api_review {str(child.pk)[:8]}: waiting"])' in mermaid
    assert "    call_review -.-> wf_child_1" in mermaid
    assert (
        f'    click wf_child_1 href "{page(child.pk)}" "Open the child instance {child.pk}"'
        in mermaid
    )
    # the child's own graph has no child node
    assert "wf_child_" not in viewer.get(page(child.pk)).context["mermaid"]


def test_graph_leaves_out_another_tenants_child(viewer) -> None:
    parent = start("api_subflow", tenant="acme")
    WorkflowInstanceModel.objects.filter(parent_id=parent.pk).update(tenant_id="other")
    assert "wf_child_" not in viewer.get(page(parent.pk)).context["mermaid"]
