"""``manage.py demo_setup``: the demo's users and workflows, and running it twice."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory, override_settings
from django.utils import timezone

from workflows_app.models import HumanTaskModel, WorkflowInstanceModel
from workflows_app.services import Actor, TaskFilter, get_service

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def setup_twice() -> str:
    out = io.StringIO()
    with override_settings(DEBUG=True):
        call_command("demo_setup", stdout=out)
        first = (
            Counter(WorkflowInstanceModel.objects.values_list("workflow_name", "status")),
            HumanTaskModel.objects.count(),
        )
        call_command("demo_setup", stdout=out)
    again = (
        Counter(WorkflowInstanceModel.objects.values_list("workflow_name", "status")),
        HumanTaskModel.objects.count(),
    )
    assert again == first
    return out.getvalue()


def actor(username: str) -> Actor:
    user = authenticate(username=username, password=username)
    assert user is not None and user.is_staff, username
    request = RequestFactory().get("/admin/")
    request.user = user
    return Actor.for_user(user, request)


def test_demo_setup__starts_the_demo_workflows_once() -> None:
    out = setup_twice()

    assert Counter(WorkflowInstanceModel.objects.values_list("workflow_name", "status")) == {
        ("expense_approval", "waiting"): 5,
        ("expense_approval", "completed"): 1,
        ("order_pipeline", "completed"): 1,
        ("ledger_sync", "failed"): 1,
    }
    assert "Started 8 demo workflow instance(s)." in out
    assert "The demo workflow instances are there already." in out
    pending = HumanTaskModel.objects.filter(status="pending")
    assert pending.filter(due_at__lt=timezone.now()).count() == 1
    assert set(pending.values_list("tenant_id", flat=True)) == {"acme", "globex"}


def test_demo_setup__users_see_what_the_table_says() -> None:
    out = setup_twice()
    service = get_service()

    for username in ("admin", "maria", "erik", "olga", "gus"):
        assert f"{username} / {username}" in out
    maria, erik, olga, gus = (actor(name) for name in ("maria", "erik", "olga", "gus"))
    assert service.inbox_rows(maria, TaskFilter()).count() == 3
    assert service.inbox_rows(maria, TaskFilter(scope="assigned")).count() == 1
    assert service.inbox_rows(maria, TaskFilter(overdue=True)).count() == 1
    assert service.inbox_rows(gus, TaskFilter()).count() == 2
    assert service.inbox_rows(erik, TaskFilter()).count() == 0
    assert service.instances(erik).count() == 6
    assert service.instances(olga).filter(status="failed").count() == 1
    assert olga.can("retry_workflow") and not erik.can("retry_workflow")
    assert service.instances(gus).filter(tenant_id="acme").count() == 0


def walk_through() -> None:
    """What a visitor does: maria approves the overdue claim, olga retries the failed sync."""
    service = get_service()
    maria, olga = actor("maria"), actor("olga")
    [overdue] = service.inbox_rows(maria, TaskFilter(overdue=True))
    service.complete_task(maria, overdue.pk, {"approved": True})
    [failed] = service.instances(olga).filter(status="failed")
    service.retry(olga, failed.pk)


def state() -> tuple[Counter, int, int]:
    statuses = Counter(WorkflowInstanceModel.objects.values_list("workflow_name", "status"))
    pending = HumanTaskModel.objects.filter(status="pending")
    return statuses, pending.count(), pending.filter(due_at__lt=timezone.now()).count()


def test_demo_setup__reset_puts_the_demo_back_as_new() -> None:
    out = io.StringIO()
    with override_settings(DEBUG=True):
        call_command("demo_setup", stdout=out)
        new = state()
        walk_through()
        assert state() != new
        assert state()[2] == 0  # the overdue claim is gone, and a plain run cannot bring it back
        call_command("demo_setup", stdout=out)
        assert state()[2] == 0
        # Someone's own instance (no demo key) is not the demo's.
        own = get_service().engine.start_workflow_sync(
            "order_pipeline", {"order_id": "PO-1"}, tenant_id="acme", created_by="erik"
        )

        call_command("demo_setup", "--reset", stdout=out)

    statuses, pending, overdue = state()
    assert statuses - Counter({("order_pipeline", "completed"): 1}) == new[0]
    assert (pending, overdue) == new[1:] == (5, 1)
    assert WorkflowInstanceModel.objects.filter(pk=own.id).exists()
    assert "Deleted 8 demo workflow instance(s)." in out.getvalue()
    assert out.getvalue().count("Started 8 demo workflow instance(s).") == 2
    # Again: the demo's rows are replaced, not added to.
    with override_settings(DEBUG=True):
        call_command("demo_setup", "--reset", stdout=io.StringIO())
    assert state() == (statuses, pending, overdue)
