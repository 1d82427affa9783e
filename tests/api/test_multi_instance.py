"""A multi-instance step (N of M approvals) through the REST API, on every transport: each
member sees their own task with ``multi`` (index and total), answers it, the step completes
when two approve, the third member's task is canceled and leaves their inbox."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import assert_error, start
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

START = ["start_workflow"]


@pytest.fixture
def board(make_caller) -> dict[str, Any]:
    return {name: make_caller(name, perms=START, tenant="acme") for name in ("ann", "bob", "cid")}


def inbox(client: Any, caller: Any) -> list[dict[str, Any]]:
    answer = client.get("/tasks", caller)
    assert answer.status_code == 200, answer
    body = answer.json()
    return body["items"] if isinstance(body, dict) else body


def test_two_of_three_approve__the_third_task_leaves_its_inbox(client, board) -> None:
    members = ["ann", "bob", "cid"]
    instance = start(client, board["ann"], "api_board", input_data={"members": members})
    mine = {name: inbox(client, board[name]) for name in members}
    assert {name: [t["multi"] for t in tasks] for name, tasks in mine.items()} == {
        "ann": [{"index": 0, "total": 3}],
        "bob": [{"index": 1, "total": 3}],
        "cid": [{"index": 2, "total": 3}],
    }
    ann_task, bob_task, cid_task = (mine[name][0]["id"] for name in members)
    shown = client.get(f"/tasks/{bob_task}", board["bob"]).json()
    assert shown["multi"] == {"index": 1, "total": 3}

    # ann cannot answer bob's task: it is not offered to her
    assert_error(
        client.post(f"/tasks/{bob_task}/complete", board["ann"], json={"output_data": {}}),
        404,
        "task_not_found",
    )
    for name, task_id in (("ann", ann_task), ("cid", cid_task)):
        done = client.post(
            f"/tasks/{task_id}/complete", board[name], json={"output_data": {"approved": True}}
        )
        assert done.status_code == 201, done
    row = WorkflowInstanceModel.objects.get(pk=instance["id"])
    assert row.status == "completed"
    assert [e and e["user"] for e in row.context_data["board_results"]] == ["ann", None, "cid"]
    assert inbox(client, board["bob"]) == []
    assert HumanTaskModel.objects.get(pk=bob_task).status == "canceled"
    late = client.post(
        f"/tasks/{bob_task}/complete", board["bob"], json={"output_data": {"approved": True}}
    )
    assert_error(late, 409)


def test_a_plain_task_has_no_multi(client, make_caller) -> None:
    writer = make_caller("wes", groups=["reviewers"], perms=START, tenant="acme")
    start(client, writer, "api_rework")
    [task] = inbox(client, writer)
    assert task["multi"] is None
