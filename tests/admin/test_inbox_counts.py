"""The ``workflows_inbox_counts`` template tag, and the demo's admin index that shows it.

Tasks come from the demo's ``expense_approval`` (a ``managers`` task; due
``review_within_days`` days after it starts, when the data says). A user's tenant is its
``tenant:<name>`` group (the demo's resolver).
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.users import make_user
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel

pytestmark = pytest.mark.django_db

INBOX = reverse("admin:workflows_app_humantaskmodel_changelist")
TAG = Template(
    "{% load workflows_admin %}{% workflows_inbox_counts as counts %}"
    "{{ counts.offered }}/{{ counts.assigned }}/{{ counts.overdue }}"
)


def staff_user(username: str, *groups: str, staff: bool = True) -> User:
    return make_user(username, groups=groups, staff=staff)


def claim(tenant: str, **data: object) -> HumanTaskModel:
    state = PersistentExecutionEngine().start_workflow_sync(
        "expense_approval", {"amount": 10, **data}, tenant_id=tenant, created_by="erik"
    )
    return HumanTaskModel.objects.get(instance_id=state.id, status="pending")


def render(user: User | AnonymousUser) -> str:
    request = RequestFactory().get("/admin/")
    request.user = user
    return TAG.render(Context({"request": request}))


@pytest.fixture
def acme_tasks() -> dict[str, HumanTaskModel]:
    """Acme: three managers' tasks (one overdue, one claimed by maria, one claimed by
    someone else), and one completed; globex: one task."""
    engine = PersistentExecutionEngine()
    tasks = {
        "overdue": claim("acme", review_within_days=-1),
        "open": claim("acme", review_within_days=2),
        "mine": claim("acme"),
        "theirs": claim("acme"),
        "done": claim("acme"),
        "globex": claim("globex", review_within_days=-1),
    }
    engine.claim_task_sync(tasks["mine"].pk, "maria")
    engine.claim_task_sync(tasks["theirs"].pk, "noor")
    engine.complete_task_sync(tasks["done"].pk, "maria", {"approved": False})
    return tasks


def test_counts__offered_assigned_and_overdue_of_the_users_tenant(acme_tasks) -> None:
    maria = staff_user("maria", "managers", "tenant:acme")
    gus = staff_user("gus", "managers", "tenant:globex")
    erik = staff_user("erik", "tenant:acme")

    assert render(maria) == "3/1/1"
    assert render(gus) == "1/0/1"
    assert render(erik) == "0/0/0"


def test_counts__three_count_queries_at_most(acme_tasks) -> None:
    maria = staff_user("maria", "managers", "tenant:acme")
    maria = User.objects.get(pk=maria.pk)  # no cached groups

    with CaptureQueriesContext(connection) as queries:
        assert render(maria) == "3/1/1"

    counts = [query["sql"] for query in queries if "COUNT(" in query["sql"].upper()]
    assert len(counts) == 3
    assert len(queries) <= 4  # and the user's groups, read once for the actor


def test_counts__none_without_a_staff_user() -> None:
    claim("acme")

    assert render(AnonymousUser()) == "//"
    assert render(staff_user("nina", "managers", "tenant:acme", staff=False)) == "//"


def test_admin_index__shows_the_counts_with_links_to_the_inbox(acme_tasks) -> None:
    client = Client()
    client.force_login(staff_user("maria", "managers", "tenant:acme"))

    html = client.get(reverse("admin:index")).content.decode()

    block = html.split('id="wf-inbox-counts"', 1)[1].split("</div>", 1)[0]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", block.split(">", 1)[1])).strip()
    assert text == "Your tasks: 3 offered, 1 assigned to you, 1 overdue"
    links = re.findall(r'href="([^"]+)"', block)
    assert links == [INBOX, f"{INBOX}?scope=assigned", f"{INBOX}?due=overdue"]


def test_admin_index__each_link_lists_as_many_tasks_as_it_counts(acme_tasks) -> None:
    client = Client()
    client.force_login(staff_user("maria", "managers", "tenant:acme"))
    html = client.get(reverse("admin:index")).content.decode()
    block = html.split('id="wf-inbox-counts"', 1)[1].split("</div>", 1)[0]

    counted = re.findall(r'href="([^"]+)"[^>]*>(?:<span[^>]*>)?(\d+) ', block)
    assert [int(count) for _, count in counted] == [3, 1, 1]
    for href, count in counted:
        listed = client.get(href.replace("&amp;", "&")).content.decode()
        rows = re.findall(r'href="/admin/workflows_app/humantaskmodel/[0-9a-f-]+/change/', listed)
        assert len(rows) == int(count), href
