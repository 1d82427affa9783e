"""Who may do what through the REST API (the rules of ``workflows_app.services``).

Something the caller may not see answers 404, something it sees but may not do 403; a
refused request changes nothing. Everyone here is in tenant ``acme``.
"""

from __future__ import annotations

import pytest

from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

TENANT = "acme"


@pytest.fixture
def person(make_caller):
    """``person("alice", groups=[...], perms=[...])``: a caller of tenant acme."""

    def make(username: str, *, groups=(), perms=()):
        return make_caller(username, groups=groups, perms=perms, tenant=TENANT)

    return make


def _snapshot() -> tuple:
    """Everything a refused request could have changed."""
    return (
        sorted(
            WorkflowInstanceModel.objects.values_list(
                "id", "status", "current_step", "lock_version", "tenant_id", "created_by"
            )
        ),
        sorted(
            HumanTaskModel.objects.values_list(
                "id", "status", "assignee_id", "assignee_group", "completed_by", "tenant_id"
            )
        ),
        sorted(StepExecutionModel.objects.values_list("id", "status")),
    )


def _start(client, caller, name: str = "api_review", input_data=None) -> dict:
    body = {"definition_name": name}
    if input_data is not None:
        body["input_data"] = input_data
    answer = client.post("/instances", caller, json=body)
    assert answer.status_code == 201, answer
    return answer.json()


def _task(instance: dict) -> HumanTaskModel:
    return HumanTaskModel.objects.get(instance_id=instance["id"])


def _assert_error(answer, status: int, code: str) -> None:
    assert answer.status_code == status, answer
    body = answer.json()
    assert (body["status_code"], body["code"]) == (status, code), body
    assert set(body) == {"status_code", "detail", "code", "errors"}


def _refused(client, method: str, path: str, caller, status: int, code: str, json=None):
    """Send a request that must be refused with ``status``; assert nothing changed."""
    before = _snapshot()
    answer = client.request(method, path, caller, json=json)
    _assert_error(answer, status, code)
    assert _snapshot() == before
    return answer


# -- starting -----------------------------------------------------------------------------


def test_start__without_start_workflow__403_nothing_created(client, person) -> None:
    alice = person("alice", groups=["reviewers"], perms=["cancel_workflow", "retry_workflow"])
    _refused(
        client,
        "POST",
        "/instances",
        alice,
        403,
        "forbidden",
        json={"definition_name": "api_review"},
    )
    assert WorkflowInstanceModel.objects.count() == 0
    assert HumanTaskModel.objects.count() == 0


def test_start__user_id_of_someone_else__403(client, person) -> None:
    alice = person("alice", perms=["start_workflow"])
    person("bob", perms=["start_workflow"])
    body = {"definition_name": "api_review", "user_id": "bob"}
    answer = _refused(client, "POST", "/instances", alice, 403, "forbidden", json=body)
    assert "user_id" in answer.json()["detail"]
    assert WorkflowInstanceModel.objects.count() == 0


def test_start__user_id_of_the_caller__201(client, person) -> None:
    alice = person("alice", perms=["start_workflow"])
    answer = client.post(
        "/instances", alice, json={"definition_name": "api_review", "user_id": "alice"}
    )
    assert answer.status_code == 201, answer
    assert WorkflowInstanceModel.objects.get().created_by == "alice"


# -- cancelling and retrying ---------------------------------------------------------------


def test_cancel__without_cancel_workflow__403_unchanged(client, person) -> None:
    alice = person("alice", perms=["start_workflow", "retry_workflow"])
    instance = _start(client, alice)
    _refused(client, "POST", f"/instances/{instance['id']}/cancel", alice, 403, "forbidden")
    assert WorkflowInstanceModel.objects.get(pk=instance["id"]).status == "waiting"
    assert _task(instance).status == "pending"


def test_cancel__with_cancel_workflow__201(client, person) -> None:
    alice = person("alice", perms=["start_workflow", "cancel_workflow"])
    instance = _start(client, alice)
    answer = client.post(f"/instances/{instance['id']}/cancel", alice)
    assert answer.status_code == 201, answer
    assert WorkflowInstanceModel.objects.get(pk=instance["id"]).status == "canceled"
    assert _task(instance).status == "canceled"


def test_retry__without_retry_workflow__403_unchanged(client, person) -> None:
    alice = person("alice", perms=["start_workflow", "cancel_workflow"])
    instance = _start(client, alice, "api_flaky")
    assert instance["status"] == "failed"
    _refused(client, "POST", f"/instances/{instance['id']}/retry", alice, 403, "forbidden")
    assert WorkflowInstanceModel.objects.get(pk=instance["id"]).status == "failed"


def test_retry__with_retry_workflow__201(client, person) -> None:
    alice = person("alice", perms=["start_workflow", "retry_workflow"])
    instance = _start(client, alice, "api_flaky")
    answer = client.post(f"/instances/{instance['id']}/retry", alice)
    assert answer.status_code == 201, answer
    assert answer.json()["status"] == "completed"


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_cancel_retry__instance_not_visible__404_even_with_permission(
    client, person, action
) -> None:
    alice = person("alice", perms=["start_workflow"])
    instance = _start(client, alice, "api_review" if action == "cancel" else "api_flaky")
    eve = person("eve", perms=["cancel_workflow", "retry_workflow", "view_humantaskmodel"])
    path = f"/instances/{instance['id']}/{action}"
    _refused(client, "POST", path, eve, 404, "instance_not_found")
    assert WorkflowInstanceModel.objects.get(pk=instance["id"]).status == instance["status"]


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_cancel_retry__visible_without_permission__403(client, person, action) -> None:
    """A reviewer sees the instance through its task, but may not cancel or retry it."""
    starter = person("starter", perms=["start_workflow"])
    instance = _start(client, starter)
    reviewer = person("rita", groups=["reviewers"])
    assert client.get(f"/instances/{instance['id']}", reviewer).status_code == 200
    _refused(client, "POST", f"/instances/{instance['id']}/{action}", reviewer, 403, "forbidden")


# -- completing ---------------------------------------------------------------------------


def test_complete__completed_by_someone_else__403(client, person) -> None:
    starter = person("starter", perms=["start_workflow"])
    rita = person("rita", groups=["reviewers"])
    person("bob", groups=["reviewers"])
    task = _task(_start(client, starter))
    body = {"output_data": {"approved": True}, "completed_by": "bob"}
    answer = _refused(client, "POST", f"/tasks/{task.pk}/complete", rita, 403, "forbidden", body)
    assert "completed_by" in answer.json()["detail"]
    body["completed_by"] = "rita"
    assert client.post(f"/tasks/{task.pk}/complete", rita, json=body).status_code == 201
    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("completed", "rita")


def test_complete__group_task_by_non_member__404(client, person) -> None:
    starter = person("starter", groups=["reviewers"], perms=["start_workflow", "cancel_workflow"])
    task = _task(_start(client, starter))
    nina = person("nina", groups=["signers"], perms=["start_workflow"])
    body = {"output_data": {"approved": True}}
    _refused(client, "POST", f"/tasks/{task.pk}/complete", nina, 404, "task_not_found", body)
    _assert_error(client.get(f"/tasks/{task.pk}", nina), 404, "task_not_found")
    assert client.get("/tasks", nina).json() == []
    task.refresh_from_db()
    assert (task.status, task.assignee_id, task.completed_by) == ("pending", None, None)


def test_complete__group_task_by_member__201(client, person) -> None:
    starter = person("starter", perms=["start_workflow"])
    task = _task(_start(client, starter))
    rita = person("rita", groups=["reviewers"])
    assert [row["id"] for row in client.get("/tasks", rita).json()] == [str(task.pk)]
    answer = client.post(f"/tasks/{task.pk}/complete", rita, json={"output_data": {"approved": 1}})
    assert answer.status_code == 422, answer  # the form is checked after the rights
    answer = client.post(
        f"/tasks/{task.pk}/complete", rita, json={"output_data": {"approved": True}}
    )
    assert answer.status_code == 201, answer
    assert answer.json()["status"] == "completed"
    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("completed", "rita")


def _assigned_to_bob(client, person) -> HumanTaskModel:
    starter = person("starter", perms=["start_workflow"])
    task = _task(_start(client, starter, "api_assigned", {"signer": "bob"}))
    assert (task.assignee_id, task.assignee_group) == ("bob", None)
    return task


def test_complete__assigned_task_by_other_who_sees_it__403(client, person) -> None:
    task = _assigned_to_bob(client, person)
    alice = person("alice", perms=["view_humantaskmodel", "reassign_any_task"])
    assert client.get(f"/tasks/{task.pk}", alice).status_code == 200
    body = {"output_data": {}}
    _refused(client, "POST", f"/tasks/{task.pk}/complete", alice, 403, "forbidden", body)
    task.refresh_from_db()
    assert (task.status, task.assignee_id) == ("pending", "bob")


def test_complete__assigned_task_by_other_who_does_not_see_it__404(client, person) -> None:
    task = _assigned_to_bob(client, person)
    carol = person("carol", groups=["reviewers", "signers"])
    body = {"output_data": {}}
    _refused(client, "POST", f"/tasks/{task.pk}/complete", carol, 404, "task_not_found", body)


@pytest.mark.parametrize(
    ("username", "perms"), [("bob", []), ("olga", ["complete_any_task"])], ids=["assignee", "any"]
)
def test_complete__assigned_task_by_assignee_or_override__201(
    client, person, username, perms
) -> None:
    task = _assigned_to_bob(client, person)
    caller = person(username, perms=perms)
    answer = client.post(f"/tasks/{task.pk}/complete", caller, json={"output_data": {}})
    assert answer.status_code == 201, answer
    assert answer.json()["status"] == "completed"
    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("completed", username)


# -- claiming and releasing -----------------------------------------------------------------


def test_claim__non_member__404(client, person) -> None:
    starter = person("starter", perms=["start_workflow"])
    task = _task(_start(client, starter))
    nina = person("nina", groups=["signers"])
    _refused(client, "POST", f"/tasks/{task.pk}/claim", nina, 404, "task_not_found")


def test_claim__non_member_who_sees_it__403(client, person) -> None:
    starter = person("starter", perms=["start_workflow"])
    task = _task(_start(client, starter))
    vera = person("vera", perms=["view_humantaskmodel", "reassign_any_task"])
    _refused(client, "POST", f"/tasks/{task.pk}/claim", vera, 403, "forbidden")
    task.refresh_from_db()
    assert task.assignee_id is None


@pytest.mark.parametrize(
    ("username", "groups", "perms"),
    [("rita", ["reviewers"], []), ("olga", [], ["complete_any_task"])],
    ids=["member", "override"],
)
def test_claim__member_or_override__201(client, person, username, groups, perms) -> None:
    starter = person("starter", perms=["start_workflow"])
    task = _task(_start(client, starter))
    caller = person(username, groups=groups, perms=perms)
    answer = client.post(f"/tasks/{task.pk}/claim", caller)
    assert answer.status_code == 201, answer
    assert answer.json()["assignee"] == username
    task.refresh_from_db()
    assert (task.status, task.assignee_id, task.assignee_group) == (
        "pending",
        username,
        "reviewers",
    )


def test_claim__task_claimed_by_another_member__404_then_409(client, person) -> None:
    """Once bob holds it, rita (a member) no longer sees it; one who sees it gets 409."""
    starter = person("starter", perms=["start_workflow"])
    task = _task(_start(client, starter))
    bob = person("bob", groups=["reviewers"])
    rita = person("rita", groups=["reviewers"])
    olga = person("olga", perms=["complete_any_task"])
    assert client.post(f"/tasks/{task.pk}/claim", bob).status_code == 201
    _refused(client, "POST", f"/tasks/{task.pk}/claim", rita, 404, "task_not_found")
    _refused(client, "POST", f"/tasks/{task.pk}/claim", olga, 409, "conflict")
    task.refresh_from_db()
    assert task.assignee_id == "bob"


def _claimed_by_bob(client, person) -> HumanTaskModel:
    starter = person("starter", perms=["start_workflow"])
    task = _task(_start(client, starter))
    bob = person("bob", groups=["reviewers"])
    assert client.post(f"/tasks/{task.pk}/claim", bob).status_code == 201
    return task, bob


def test_release__by_other_who_sees_it__403(client, person) -> None:
    task, _bob = _claimed_by_bob(client, person)
    rita = person("rita", groups=["reviewers"], perms=["view_humantaskmodel"])
    _refused(client, "POST", f"/tasks/{task.pk}/release", rita, 403, "forbidden")
    task.refresh_from_db()
    assert (task.status, task.assignee_id) == ("pending", "bob")


def test_release__by_other_who_does_not_see_it__404(client, person) -> None:
    task, _bob = _claimed_by_bob(client, person)
    rita = person("rita", groups=["reviewers"], perms=["reassign_any_task"])
    _refused(client, "POST", f"/tasks/{task.pk}/release", rita, 404, "task_not_found")


@pytest.mark.parametrize(
    ("username", "perms"), [("bob", []), ("olga", ["complete_any_task"])], ids=["assignee", "any"]
)
def test_release__by_assignee_or_override__201(client, person, username, perms) -> None:
    task, bob = _claimed_by_bob(client, person)
    caller = bob if username == "bob" else person(username, perms=perms)
    answer = client.post(f"/tasks/{task.pk}/release", caller)
    assert answer.status_code == 201, answer
    assert answer.json()["assignee"] is None
    task.refresh_from_db()
    assert (task.status, task.assignee_id, task.assignee_group) == ("pending", None, "reviewers")


# -- reassigning --------------------------------------------------------------------------


def test_reassign__by_non_assignee_without_permission__403(client, person) -> None:
    task = _assigned_to_bob(client, person)
    alice = person("alice", perms=["view_humantaskmodel", "complete_any_task"])
    body = {"new_assignee": "alice", "reason": "mine now"}
    _refused(client, "POST", f"/tasks/{task.pk}/reassign", alice, 403, "forbidden", body)
    task.refresh_from_db()
    assert (task.status, task.assignee_id, task.activity) == ("pending", "bob", [])


def test_reassign__unassigned_group_task_by_member__403(client, person) -> None:
    starter = person("starter", perms=["start_workflow"])
    task = _task(_start(client, starter))
    rita = person("rita", groups=["reviewers"])
    body = {"new_group": "signers"}
    _refused(client, "POST", f"/tasks/{task.pk}/reassign", rita, 403, "forbidden", body)
    task.refresh_from_db()
    assert (task.assignee_id, task.assignee_group) == (None, "reviewers")


def test_reassign__not_visible__404(client, person) -> None:
    task = _assigned_to_bob(client, person)
    mallory = person("mallory", groups=["reviewers"], perms=["start_workflow"])
    body = {"new_assignee": "mallory"}
    _refused(client, "POST", f"/tasks/{task.pk}/reassign", mallory, 404, "task_not_found", body)


@pytest.mark.parametrize(
    ("username", "perms"),
    [("bob", []), ("rhea", ["reassign_any_task", "view_humantaskmodel"])],
    ids=["assignee", "any"],
)
def test_reassign__by_assignee_or_reassign_any_task__201(client, person, username, perms) -> None:
    task = _assigned_to_bob(client, person)
    caller = person(username, perms=perms)
    answer = client.post(
        f"/tasks/{task.pk}/reassign", caller, json={"new_assignee": "carol", "reason": "leave"}
    )
    assert answer.status_code == 201, answer
    assert answer.json()["assignee"] == "carol"
    task.refresh_from_db()
    assert task.assignee_id == "carol"
    assert task.activity[-1]["by"] == username
    assert task.activity[-1]["reason"] == "leave"


# -- instance visibility ------------------------------------------------------------------

INSTANCE_ROUTES = [
    ("GET", "/instances/{id}"),
    ("GET", "/instances/{id}/graph"),
    ("GET", "/instances/{id}/steps"),
    ("POST", "/instances/{id}/cancel"),
    ("POST", "/instances/{id}/retry"),
]


def _listed(client, caller, query: str = "") -> list[str]:
    answer = client.get(f"/instances{query}", caller)
    assert answer.status_code == 200, answer
    ids = [row["id"] for row in answer.json()]
    assert answer.headers["X-Total-Count"] == str(len(ids))
    return ids


def test_instance__unrelated_user__404_everywhere_and_not_listed(client, person) -> None:
    starter = person("starter", perms=["start_workflow"])
    review = _start(client, starter)
    flaky = _start(client, starter, "api_flaky")
    eve = person(
        "eve",
        groups=["signers"],
        perms=["start_workflow", "cancel_workflow", "retry_workflow", "view_humantaskmodel"],
    )
    own = _start(client, eve, "api_flaky")
    for instance in (review, flaky):
        for method, template in INSTANCE_ROUTES:
            path = template.format(id=instance["id"])
            answer = _refused(client, method, path, eve, 404, "instance_not_found")
            assert instance["id"] in answer.json()["detail"]
            assert "api_" not in answer.content.decode()
    assert _listed(client, eve) == [own["id"]]
    assert _listed(client, eve, "?created_by=starter") == []
    assert _listed(client, eve, "?workflow_name=api_review") == []


def test_instance__starter_sees_it(client, person) -> None:
    starter = person("starter", perms=["start_workflow"])
    instance = _start(client, starter)
    for method, template in INSTANCE_ROUTES[:3]:
        answer = client.request(method, template.format(id=instance["id"]), starter)
        assert answer.status_code == 200, answer
    assert _listed(client, starter) == [instance["id"]]


def test_instance__task_holder_sees_it_until_the_task_goes_to_another(client, person) -> None:
    starter = person("starter", perms=["start_workflow"])
    instance = _start(client, starter)
    rita = person("rita", groups=["reviewers"])
    bob = person("bob", groups=["reviewers"])
    for caller in (rita, bob):
        assert _listed(client, caller) == [instance["id"]]
        detail = client.get(f"/instances/{instance['id']}", caller)
        assert detail.status_code == 200, detail
        assert detail.json()["id"] == instance["id"]
    task = _task(instance)
    assert client.post(f"/tasks/{task.pk}/claim", bob).status_code == 201
    assert _listed(client, rita) == []
    _assert_error(client.get(f"/instances/{instance['id']}", rita), 404, "instance_not_found")
    assert _listed(client, bob) == [instance["id"]]


def test_instance__completer_still_sees_it(client, person) -> None:
    starter = person("starter", perms=["start_workflow"])
    instance = _start(client, starter)
    rita = person("rita", groups=["reviewers"])
    task = _task(instance)
    done = client.post(f"/tasks/{task.pk}/complete", rita, json={"output_data": {"approved": True}})
    assert done.status_code == 201, done
    # rita left the group: she completed the task, so she still sees it
    rita.user.groups.remove(*rita.user.groups.filter(name="reviewers"))
    assert _listed(client, rita) == [instance["id"]]
    assert client.get(f"/instances/{instance['id']}/steps", rita).status_code == 200


def test_instance__view_workflowinstancemodel_sees_all(client, person) -> None:
    starter = person("starter", perms=["start_workflow"])
    review = _start(client, starter)
    flaky = _start(client, starter, "api_flaky")
    viewer = person("viewer", perms=["view_workflowinstancemodel"])
    assert sorted(_listed(client, viewer)) == sorted([review["id"], flaky["id"]])
    for method, template in INSTANCE_ROUTES[:3]:
        answer = client.request(method, template.format(id=flaky["id"]), viewer)
        assert answer.status_code == 200, answer
    # seeing is not changing
    for action in ("cancel", "retry"):
        path = f"/instances/{flaky['id']}/{action}"
        _refused(client, "POST", path, viewer, 403, "forbidden")


def test_instance__task_viewer_does_not_see_instances(client, person) -> None:
    """``view_humantaskmodel`` shows every task, not every instance."""
    task = _assigned_to_bob(client, person)
    vera = person("vera", perms=["view_humantaskmodel"])
    assert client.get(f"/tasks/{task.pk}", vera).status_code == 200
    _assert_error(client.get(f"/instances/{task.instance_id}", vera), 404, "instance_not_found")
    assert _listed(client, vera) == []


# -- task lists ---------------------------------------------------------------------------


def test_tasks__scope_all_without_permission__403(client, person) -> None:
    rita = person("rita", groups=["reviewers"])
    _assert_error(client.get("/tasks?scope=all", rita), 403, "forbidden")


@pytest.mark.parametrize("perm", ["view_humantaskmodel", "complete_any_task"])
def test_tasks__scope_all_with_permission__every_task(client, person, perm) -> None:
    starter = person("starter", perms=["start_workflow"])
    review = _task(_start(client, starter))
    signed = _task(_start(client, starter, "api_assigned", {"signer": "bob"}))
    caller = person("vera", perms=[perm])
    answer = client.get("/tasks?scope=all", caller)
    assert answer.status_code == 200, answer
    assert sorted(row["id"] for row in answer.json()) == sorted([str(review.pk), str(signed.pk)])
    assert client.get("/tasks", caller).json() == []  # her inbox: nothing is offered to her


def test_tasks__inbox_shows_only_offered_tasks(client, person) -> None:
    starter = person("starter", perms=["start_workflow"])
    review = _task(_start(client, starter))
    signed = _task(_start(client, starter, "api_assigned", {"signer": "bob"}))
    rita = person("rita", groups=["reviewers"])
    bob = person("bob")
    nina = person("nina", groups=["signers"])
    for caller, expected in ((rita, [review]), (bob, [signed]), (nina, [])):
        for scope in ("offered", "assigned", "groups"):
            answer = client.get(f"/tasks?scope={scope}&status=any", caller)
            assert answer.status_code == 200, answer
            ids = {row["id"] for row in answer.json()}
            assert ids <= {str(task.pk) for task in expected}, (caller.user_id, scope)
        ids = [row["id"] for row in client.get("/tasks", caller).json()]
        assert ids == [str(task.pk) for task in expected]
