from __future__ import annotations


def test_start_then_complete(client, make_caller) -> None:
    alice = make_caller("alice", groups=["reviewers"], perms=["start_workflow"])
    started = client.post("/instances", alice, json={"definition_name": "api_review"})
    assert started.status_code == 201, started
    inbox = client.get("/tasks", alice)
    assert inbox.status_code == 200, inbox
    [task] = inbox.json()
    done = client.post(
        f"/tasks/{task['id']}/complete", alice, json={"output_data": {"approved": True}}
    )
    assert done.status_code == 201, done
    assert done.json()["status"] == "completed"
