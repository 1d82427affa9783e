"""``POST /instances/migrate``: moving instances to another version through the REST API, on
the three transports. The rules are the service's (the ``migrate_workflowinstance``
permission, the caller's tenant); the move is the engine's."""

from __future__ import annotations

import uuid

import pytest

from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

MOVER_PERMS = ["start_workflow", "migrate_workflowinstance"]
PLAN = {
    "workflow": "api_moving",
    "from_version": "1.0.0",
    "to_version": "1.1.0",
    "mapping": {"approve": "manager_approval"},
}
DIFF = {
    "steps_added": ["budget_check"],
    "steps_removed": [],
    "steps_renamed": [["approve", "manager_approval"]],
    "steps_changed": [],
    "edges_added": [["manager_approval", "budget_check"]],
    "edges_removed": [],
}


@pytest.fixture
def mover(make_caller):
    return make_caller("mover", groups=["reviewers"], perms=MOVER_PERMS, tenant="acme")


def _start(client, caller) -> str:
    body = {"definition_name": "api_moving", "version": "1.0.0"}
    answer = client.post("/instances", caller, json=body)
    assert answer.status_code == 201, answer
    return answer.json()["id"]


def _snapshot() -> tuple:
    return (
        sorted(
            WorkflowInstanceModel.objects.values_list(
                "id", "status", "current_step", "lock_version", "workflow_version", "metadata"
            )
        ),
        sorted(HumanTaskModel.objects.values_list("id", "status", "step_name", "title")),
        sorted(StepExecutionModel.objects.values_list("id", "status", "step_name")),
    )


def _migrate(client, caller, **body):
    return client.post("/instances/migrate", caller, json={**PLAN, **body})


def _assert_error(answer, status: int, code: str) -> dict:
    assert answer.status_code == status, answer
    body = answer.json()
    assert (body["status_code"], body["code"]) == (status, code), body
    assert set(body) == {"status_code", "detail", "code", "errors"}
    return body


def test_migrate__dry_run_says_which_can_move_and_writes_nothing(client, mover) -> None:
    waiting = _start(client, mover)
    missing = str(uuid.uuid4())
    before = _snapshot()

    answer = _migrate(client, mover, instances=[waiting, missing], dry_run=True)

    assert answer.status_code == 200, answer
    assert answer.json() == {
        "dry_run": True,
        "diff": DIFF,
        "problems": [],
        "instances": [
            {"id": waiting, "movable": True, "reason": None},
            {"id": missing, "movable": False, "reason": "no such instance"},
        ],
        "moved": [],
        "skipped": [],
        "failed": [],
    }
    assert _snapshot() == before


def test_migrate__moves_the_instance_and_its_task_which_runs_on(client, mover) -> None:
    waiting = _start(client, mover)

    answer = _migrate(client, mover, instances=[waiting])

    assert answer.status_code == 200, answer
    assert answer.json() == {
        "dry_run": False,
        "diff": DIFF,
        "problems": [],
        "instances": [],
        "moved": [waiting],
        "skipped": [],
        "failed": [],
    }
    detail = client.get(f"/instances/{waiting}", mover).json()
    assert (detail["workflow_version"], detail["current_step"]) == ("1.1.0", "manager_approval")
    assert detail["metadata"]["migrations"][-1]["by"] == "mover"
    [task] = HumanTaskModel.objects.filter(instance_id=waiting)
    assert (task.step_name, task.title) == ("manager_approval", "Manager approval")

    done = client.post(f"/tasks/{task.pk}/complete", mover, json={"output_data": {}})

    assert done.status_code == 201, done
    assert done.json()["status"] == "completed"
    assert WorkflowInstanceModel.objects.get(pk=waiting).context_data["budget_checked"] is True


def test_migrate__without_instances_moves_every_one_of_the_callers_tenant(
    client, mover, make_caller
) -> None:
    ours = [_start(client, mover), _start(client, mover)]
    other = make_caller("other", groups=["reviewers"], perms=MOVER_PERMS, tenant="globex")
    theirs = _start(client, other)

    answer = _migrate(client, mover)

    assert answer.status_code == 200, answer
    assert sorted(answer.json()["moved"]) == sorted(ours)
    versions = dict(WorkflowInstanceModel.objects.values_list("id", "workflow_version"))
    assert {str(pk): version for pk, version in versions.items()} == {
        ours[0]: "1.1.0",
        ours[1]: "1.1.0",
        theirs: "1.0.0",
    }


def test_migrate__an_instance_of_another_tenant_is_no_such_instance(
    client, mover, make_caller
) -> None:
    other = make_caller("other", groups=["reviewers"], perms=MOVER_PERMS, tenant="globex")
    theirs = _start(client, other)
    before = _snapshot()

    answer = _migrate(client, mover, instances=[theirs])

    assert answer.status_code == 200, answer
    assert answer.json()["skipped"] == [{"id": theirs, "reason": "no such instance"}]
    assert answer.json()["moved"] == []
    assert _snapshot() == before


def test_migrate__a_plan_with_problems__422_nothing_written(client, mover) -> None:
    _start(client, mover)
    before = _snapshot()
    problem = "step 'approve' (human) is not in version 1.1.0: map it to a step of that version"

    body = _assert_error(_migrate(client, mover, mapping={}), 422, "invalid")

    assert body["errors"] == [{"loc": ["body"], "msg": problem, "type": "invalid"}]
    assert _snapshot() == before
    # A dry run lists them instead.
    preview = _migrate(client, mover, mapping={}, dry_run=True)
    assert preview.status_code == 200, preview
    assert preview.json()["problems"] == [problem]
    assert _snapshot() == before


def test_migrate__without_the_permission__403_nothing_written(client, make_caller) -> None:
    starter = make_caller("starter", groups=["reviewers"], perms=["start_workflow"], tenant="acme")
    waiting = _start(client, starter)
    before = _snapshot()

    for dry_run in (False, True):
        answer = _migrate(client, starter, instances=[waiting], dry_run=dry_run)
        _assert_error(answer, 403, "forbidden")
    assert _snapshot() == before


@pytest.mark.parametrize(
    ("plan", "detail"),
    [
        ({"workflow": "no_such_workflow"}, "Workflow 'no_such_workflow' not found"),
        ({"to_version": "9.9.9"}, "Workflow 'api_moving' version '9.9.9' not found"),
    ],
)
def test_migrate__unknown_workflow_or_version__404(client, mover, plan, detail) -> None:
    body = _assert_error(_migrate(client, mover, **plan), 404, "workflow_not_found")
    assert body["detail"] == detail


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"mapping": {"approve": 1}}, ["body", "mapping", "approve"]),
        ({"instances": ["not-a-uuid"]}, ["body", "instances", 0]),
        ({"workflow": ""}, ["body", "workflow"]),
        ({"dry_run": True, "dryrun": True}, ["body", "dryrun"]),
    ],
)
def test_migrate__bad_body__422_at_the_field(client, mover, body, loc) -> None:
    answer = _assert_error(_migrate(client, mover, **body), 422, "validation_error")
    assert [error["loc"] for error in answer["errors"]] == [loc]
