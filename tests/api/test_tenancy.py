"""Tenancy through the REST API: with the demo's resolver (a user's ``tenant:<name>``
group), a caller sees and changes only its tenant's rows; another tenant's ids are
"not found", even for a superuser; a user with no tenant sees only rows without one.
"""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.api.conftest import NinjaClient
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

ALL_PERMS = [
    "start_workflow",
    "cancel_workflow",
    "retry_workflow",
    "complete_any_task",
    "reassign_any_task",
    "view_workflowinstancemodel",
    "view_humantaskmodel",
]


def _snapshot() -> tuple:
    return (
        sorted(
            WorkflowInstanceModel.objects.values_list(
                "id", "status", "current_step", "lock_version", "tenant_id"
            )
        ),
        sorted(
            HumanTaskModel.objects.values_list(
                "id", "status", "assignee_id", "assignee_group", "completed_by", "tenant_id"
            )
        ),
        sorted(StepExecutionModel.objects.values_list("id", "status")),
    )


def _start(client, caller, name: str = "api_review", **body) -> dict:
    answer = client.post("/instances", caller, json={"definition_name": name, **body})
    assert answer.status_code == 201, answer
    return answer.json()


def _task(instance: dict) -> HumanTaskModel:
    return HumanTaskModel.objects.get(instance_id=instance["id"])


class Tenant:
    """One tenant's rows: a waiting review (its task unclaimed), a second review whose task
    its owner claimed, a failed instance, and a task assigned to a user."""

    def __init__(self, client, make_caller, tenant: str | None, prefix: str) -> None:
        self.tenant = tenant
        self.owner = make_caller(
            f"{prefix}_owner", groups=["reviewers"], perms=ALL_PERMS, tenant=tenant
        )
        self.review = _start(client, self.owner, input_data={"secret": f"{prefix}-secret"})
        self.claimed = _start(client, self.owner)
        self.flaky = _start(client, self.owner, "api_flaky")
        self.signing = _start(client, self.owner, "api_assigned", input_data={"signer": "shared"})
        self.task = _task(self.review)
        self.claimed_task = _task(self.claimed)
        answer = client.post(f"/tasks/{self.claimed_task.pk}/claim", self.owner)
        assert answer.status_code == 201, answer
        assert self.flaky["status"] == "failed"

    @property
    def instance_ids(self) -> set[str]:
        return {row["id"] for row in (self.review, self.claimed, self.flaky, self.signing)}

    @property
    def task_ids(self) -> set[str]:
        return {
            str(pk)
            for pk in HumanTaskModel.objects.filter(instance_id__in=self.instance_ids).values_list(
                "pk", flat=True
            )
        }

    def routes(self) -> list[tuple[str, str, dict | None]]:
        """Every route with an id, on a row where it would succeed for a privileged caller."""
        review, flaky, claimed = self.review["id"], self.flaky["id"], self.claimed["id"]
        task, claimed_task = self.task.pk, self.claimed_task.pk
        return [
            ("GET", f"/instances/{review}", None),
            ("GET", f"/instances/{review}/graph", None),
            ("GET", f"/instances/{review}/steps", None),
            ("POST", f"/instances/{flaky}/retry", None),
            ("GET", f"/tasks/{task}", None),
            ("POST", f"/tasks/{task}/claim", None),
            ("POST", f"/tasks/{task}/reassign", {"new_assignee": "intruder"}),
            ("POST", f"/tasks/{task}/complete", {"output_data": {"approved": True}}),
            ("POST", f"/tasks/{claimed_task}/release", None),
            ("POST", f"/instances/{claimed}/cancel", None),
        ]


@pytest.fixture
def tenants(client, make_caller) -> dict[str | None, Tenant]:
    return {
        "acme": Tenant(client, make_caller, "acme", "acme"),
        "globex": Tenant(client, make_caller, "globex", "globex"),
        None: Tenant(client, make_caller, None, "plain"),
    }


def _intruder(make_caller, kind: str, tenant: str | None):
    name = f"{kind}_{tenant or 'none'}"
    if kind == "superuser":
        return make_caller(name, groups=["reviewers"], tenant=tenant, superuser=True)
    return make_caller(name, groups=["reviewers"], perms=ALL_PERMS, tenant=tenant)


def test_tenants__rows_are_stamped_with_their_tenant(tenants) -> None:
    for tenant, rows in tenants.items():
        instances = WorkflowInstanceModel.objects.filter(pk__in=rows.instance_ids)
        assert {row.tenant_id for row in instances} == {tenant}
        tasks = HumanTaskModel.objects.filter(pk__in=rows.task_ids)
        assert {row.tenant_id for row in tasks} == {tenant}
        assert len(rows.task_ids) == 3


@pytest.mark.parametrize("kind", ["superuser", "privileged"])
@pytest.mark.parametrize(
    ("attacker_tenant", "victim_tenant"),
    [("globex", "acme"), ("acme", None), (None, "globex")],
    ids=["globex-on-acme", "acme-on-untenanted", "untenanted-on-globex"],
)
def test_route_with_id__other_tenant__404_and_nothing_changes(
    client, make_caller, tenants, kind, attacker_tenant, victim_tenant
) -> None:
    intruder = _intruder(make_caller, kind, attacker_tenant)
    victim = tenants[victim_tenant]
    secret = f"{victim.owner.user_id.split('_')[0]}-secret"
    before = _snapshot()
    for method, path, body in victim.routes():
        answer = client.request(method, path, intruder, json=body)
        assert answer.status_code == 404, (path, answer)
        assert answer.json()["code"] in ("instance_not_found", "task_not_found"), answer
        content = answer.content.decode()
        assert secret not in content
        assert "Review the document" not in content
        assert victim.owner.user_id not in content
    assert _snapshot() == before
    # the same caller may do all of it in its own tenant
    own = tenants[attacker_tenant]
    for method, path, body in own.routes():
        answer = client.request(method, path, intruder, json=body)
        assert answer.status_code in (200, 201), (path, answer)


@pytest.mark.parametrize("tenant", ["acme", "globex", None])
def test_lists__only_the_callers_tenant(client, make_caller, tenants, tenant) -> None:
    caller = _intruder(make_caller, "superuser", tenant)
    own = tenants[tenant]
    answer = client.get("/instances?limit=100", caller)
    assert answer.status_code == 200, answer
    assert {row["id"] for row in answer.json()} == own.instance_ids
    assert {row["tenant_id"] for row in answer.json()} == {tenant}
    assert answer.headers["X-Total-Count"] == str(len(own.instance_ids))
    for scope in ("offered", "assigned", "groups", "all"):
        for status in ("pending", "any"):
            answer = client.get(f"/tasks?scope={scope}&status={status}&limit=100", caller)
            assert answer.status_code == 200, answer
            ids = {row["id"] for row in answer.json()}
            assert ids <= own.task_ids, (scope, status)
            assert {row["tenant_id"] for row in answer.json()} <= {tenant}
            if scope == "all":
                assert ids == own.task_ids  # all three are pending
    for other_tenant, other in tenants.items():
        if other_tenant == tenant:
            continue
        queries = [
            f"scope=all&status=any&instance_id={other.review['id']}",
            f"scope=all&status=any&assignee_id={other.owner.user_id}",
            "scope=all&status=any&assignee_id=shared",
        ]
        for query in queries:
            answer = client.get(f"/tasks?{query}", caller)
            assert answer.status_code == 200, answer
            assert not {row["id"] for row in answer.json()} & other.task_ids, query


@pytest.mark.parametrize("tenant", ["acme", None])
def test_lists__tenant_id_filter_of_another_tenant__nothing(
    client, make_caller, tenants, tenant
) -> None:
    caller = _intruder(make_caller, "superuser", tenant)
    for other in ("globex", "acme"):
        if other == tenant:
            continue
        answer = client.get(f"/instances?tenant_id={other}", caller)
        assert answer.status_code == 200, answer
        assert answer.json() == []
        assert answer.headers["X-Total-Count"] == "0"
    if tenant is not None:
        answer = client.get(f"/instances?tenant_id={tenant}&limit=100", caller)
        assert {row["id"] for row in answer.json()} == tenants[tenant].instance_ids


def test_user_with_the_same_id_in_two_tenants__sees_only_its_tenants_task(
    client, make_caller, tenants
) -> None:
    """ "shared" is assigned a task in every tenant; a user named so sees the one of its own."""
    shared = make_caller("shared", tenant="globex")
    answer = client.get("/tasks?scope=assigned", shared)
    assert answer.status_code == 200, answer
    assert [row["id"] for row in answer.json()] == [str(_task(tenants["globex"].signing).pk)]
    instances = client.get("/instances", shared).json()
    assert [row["id"] for row in instances] == [tenants["globex"].signing["id"]]
    acme_task = _task(tenants["acme"].signing)
    before = _snapshot()
    answer = client.post(f"/tasks/{acme_task.pk}/complete", shared, json={"output_data": {}})
    assert answer.status_code == 404, answer
    assert _snapshot() == before


# -- starting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant", "asked"),
    [("acme", "globex"), ("acme", ""), (None, "acme"), ("globex", "acme")],
)
def test_start__tenant_id_of_another_tenant__403_nothing_created(
    client, make_caller, tenant, asked
) -> None:
    caller = make_caller("starter", perms=["start_workflow"], tenant=tenant, superuser=True)
    body = {"definition_name": "api_review", "tenant_id": asked}
    answer = client.post("/instances", caller, json=body)
    assert answer.status_code == 403, answer
    assert answer.json()["code"] == "forbidden"
    assert WorkflowInstanceModel.objects.count() == 0
    assert HumanTaskModel.objects.count() == 0


@pytest.mark.parametrize("tenant", ["acme", None])
def test_start__own_tenant_id__201(client, make_caller, tenant) -> None:
    caller = make_caller("starter", perms=["start_workflow"], tenant=tenant)
    instance = _start(client, caller, tenant_id=tenant)
    assert instance["tenant_id"] == tenant
    assert WorkflowInstanceModel.objects.get().tenant_id == tenant


@pytest.mark.parametrize("tenant", ["acme", "globex", None])
def test_start__without_tenant_id__stamps_the_callers_tenant(client, make_caller, tenant) -> None:
    caller = make_caller("starter", groups=["reviewers"], perms=["start_workflow"], tenant=tenant)
    instance = _start(client, caller)
    assert instance["tenant_id"] == tenant
    assert WorkflowInstanceModel.objects.get(pk=instance["id"]).tenant_id == tenant
    task = _task(instance)
    assert task.tenant_id == tenant
    answer = client.get(f"/tasks/{task.pk}", caller)
    assert answer.status_code == 200, answer
    assert answer.json()["tenant_id"] == tenant


# -- no resolver: one tenant ----------------------------------------------------------------


@pytest.mark.django_db
def test_no_resolver__nothing_is_scoped(make_caller) -> None:
    """(in process only: the uvicorn process keeps the demo's resolver)"""
    client = NinjaClient()
    ann = make_caller("ann", groups=["reviewers"], perms=ALL_PERMS, tenant="acme")
    gus = make_caller("gus", groups=["reviewers"], tenant="globex", superuser=True)
    with override_settings(WORKFLOWS={}):
        given = _start(client, ann, tenant_id="globex")
        assert given["tenant_id"] == "globex"
        assert _task(given).tenant_id == "globex"
        unstamped = _start(client, ann)
        assert unstamped["tenant_id"] is None
        assert _task(unstamped).tenant_id is None
        foreign = _start(client, ann, tenant_id="initech")
        ids = {given["id"], unstamped["id"], foreign["id"]}
        listed = client.get("/instances", gus).json()
        assert {row["id"] for row in listed} == ids
        assert client.get("/instances?tenant_id=initech", gus).json()[0]["id"] == foreign["id"]
        tasks = client.get("/tasks?scope=all", gus).json()
        assert len(tasks) == 3
        detail = client.get(f"/instances/{foreign['id']}", gus)
        assert detail.status_code == 200, detail
        answer = client.post(f"/tasks/{_task(foreign).pk}/claim", gus)
        assert answer.status_code == 201, answer
        assert _task(foreign).assignee_id == "gus"
    # the resolver back: gus (globex) sees only what is stamped globex
    listed = client.get("/instances", gus).json()
    assert [row["id"] for row in listed] == [given["id"]]
    answer = client.get(f"/instances/{foreign['id']}", gus)
    assert answer.status_code == 404, answer


def _numbered_tenant(request) -> int:
    """A resolver that answers a number (an organisation's primary key, say)."""
    return 7


@pytest.mark.django_db
def test_resolver_answering_a_number__taken_as_text(make_caller) -> None:
    """(in process only) The tenant column is text: a number from the resolver is its text,
    for the inbox as for everything else."""
    client = NinjaClient()
    ann = make_caller("ann", groups=["reviewers"], perms=ALL_PERMS)
    with override_settings(WORKFLOWS={"TENANT_RESOLVER": _numbered_tenant}):
        started = _start(client, ann)
        inbox = client.get("/tasks", ann)
        again = client.get("/tasks", ann)  # the compiled query, the second time

    assert started["tenant_id"] == "7"
    assert inbox.status_code == 200, inbox
    assert [task["id"] for task in inbox.json()] == [str(_task(started).pk)]
    assert again.json() == inbox.json()
