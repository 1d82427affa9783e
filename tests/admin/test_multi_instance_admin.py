"""The admin task page of a multi-instance step's task: "task 2 of 3" and the state of its
sibling tasks; a completed or canceled sibling leaves the inbox."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.admin.console_support import make_staff
from tests.api import workflows
from workflows_app.core.registry import default_registry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


def test_task_page__shows_its_place_and_its_siblings() -> None:
    bob = make_staff("bob")
    engine = PersistentExecutionEngine()
    started = engine.start_workflow_sync("api_board", {"members": ["ann", "bob", "cid"]})
    ann, bob_task, cid = HumanTaskModel.objects.filter(instance_id=started.id).order_by(
        "multi_index"
    )
    engine.complete_task_sync(ann.pk, "ann", {"approved": True})

    page = bob.get(reverse("admin:workflows_app_humantaskmodel_change", args=[bob_task.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="wf-multi-position">task 2 of 3 of step board<' in html
    siblings = page.context["siblings"]
    assert [(t.multi_index, t.status, t.completed_by) for t in siblings] == [
        (0, "completed", "ann"),
        (1, "pending", None),
        (2, "pending", None),
    ]
    assert "(this task)" in html

    inbox = reverse("admin:workflows_app_humantaskmodel_changelist")
    assert str(bob_task.pk) in bob.get(inbox).content.decode()
    engine.complete_task_sync(cid.pk, "cid", {"approved": True})
    bob_task.refresh_from_db()
    assert bob_task.status == "canceled"
    assert str(bob_task.pk) not in bob.get(inbox).content.decode()
    page = bob.get(reverse("admin:workflows_app_humantaskmodel_change", args=[bob_task.pk]))
    assert "Complete the task" not in page.content.decode()
