"""Subworkflows on every engine and mode: a SubworkflowStep starts a child (one per item
with ``for_each``) with the parent's tenant and creator, the parent waits until the child
ends; a completed child's output goes back to the parent, a failed or canceled one fails
the step (its retry policy starts a new child); for-each children are joined in item
order; the children of a canceled parent follow their step's ``on_parent_close``. (The
worker harness runs the children with a worker of its own engine.)"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from tests.engine_contract.kit import Edge, Flaky, Step, human, marker, workflow
from workflows_app import RetryPolicy, SubworkflowStep


def child(harness: Any, *steps: Any) -> str:
    """Register a child workflow of ``steps`` in a row; return its name."""
    edges = [Edge(a.name, b.name) for a, b in itertools.pairwise(steps)]
    flow = workflow(list(steps), edges)
    harness.registry.register(flow)
    return flow.name


def parent(step: SubworkflowStep) -> type:
    return workflow([marker("A"), step, marker("B")], [Edge("A", step.name), Edge(step.name, "B")])


def doubler() -> Step:
    return Step("double", lambda ctx: ctx.set("doubled", ctx.get("n", 0) * 2))


def test_a_child_completes_and_returns_its_output(harness, bus) -> None:
    name = child(harness, doubler())
    step = SubworkflowStep(
        name="call", workflow=name, input={"n": "amount"}, output={"twice": "doubled"}
    )
    instance_id = harness.start(parent(step), {"amount": 21}, tenant_id="t1", created_by="ann")

    done = harness.get(instance_id)
    assert done.status == "completed"
    assert (done.data["twice"], done.data["b_done"]) == (42, True)
    assert done.trail == [("A", "succeeded"), ("call", "succeeded"), ("B", "succeeded")]
    [kid] = harness.children(instance_id)
    assert (kid.workflow_name, kid.status, kid.tenant_id) == (name, "completed", "t1")
    assert kid.user_id == "ann"  # the parent's creator
    assert kid.data == {"n": 21, "doubled": 42}  # only what the input mapping passes
    assert kid.metadata["parent"]["instance_id"] == str(instance_id)
    assert kid.metadata["parent"]["step"] == "call"
    names = sorted(n for n, _ in bus.events if n.startswith("subworkflow."))
    assert names == ["subworkflow.ended", "subworkflow.started", "subworkflow.waiting"]


def test_the_parent_waits_until_its_child_ends(harness) -> None:
    name = child(harness, human("approve"))
    step = SubworkflowStep(name="call", workflow=name, output={"ok": "ok"})
    instance_id = harness.start(parent(step))
    waiting = harness.get(instance_id)
    assert (waiting.status, waiting.current_step) == ("waiting", "call")
    [kid] = harness.children(instance_id)
    assert kid.status == "waiting"

    harness.complete(kid.id, "approve", "bob", {"ok": True})
    done = harness.get(instance_id)
    assert done.status == "completed"
    assert (done.data["ok"], done.data["b_done"]) == (True, True)


def test_a_failed_child_is_retried_by_the_parents_retry_policy(harness) -> None:
    flaky = Flaky(failures=1)
    name = child(harness, Step("pay", flaky))
    policy = RetryPolicy(max_attempts=2, initial_interval=timedelta(seconds=10), jitter=0)
    step = SubworkflowStep(name="call", workflow=name, output={"paid": "done"}, retry_policy=policy)
    instance_id = harness.start(parent(step))
    assert harness.get(instance_id).status == "running"  # the retry is due in 10 s
    [first] = harness.children(instance_id)
    assert first.status == "failed"

    harness.advance(10)
    done = harness.get(instance_id)
    assert done.status == "completed"
    assert done.data["paid"] == 2
    assert [e.status for e in done.entries("call")] == ["failed", "succeeded"]
    assert "attempt 1 failed" in done.entries("call")[0].error
    assert [k.status for k in harness.children(instance_id)] == ["failed", "completed"]


def test_a_failed_child_without_retry_fails_the_parent_with_its_error(harness) -> None:
    def broken(ctx: Any) -> None:
        raise RuntimeError("card declined")

    name = child(harness, Step("pay", broken))
    instance_id = harness.start(parent(SubworkflowStep(name="call", workflow=name)))
    failed = harness.get(instance_id)
    assert failed.status == "failed"
    assert f"Subworkflow '{name}'" in failed.error and "card declined" in failed.error
    assert "b_done" not in failed.data


def test_a_canceled_child_fails_the_step(harness) -> None:
    name = child(harness, human("approve"))
    instance_id = harness.start(parent(SubworkflowStep(name="call", workflow=name)))
    [kid] = harness.children(instance_id)
    harness.cancel(kid.id, "not needed")
    failed = harness.get(instance_id)
    assert failed.status == "failed" and "canceled" in failed.error


def test_an_unknown_workflow_fails_the_step_clearly(harness) -> None:
    instance_id = harness.start(parent(SubworkflowStep(name="call", workflow="nope")))
    failed = harness.get(instance_id)
    assert failed.status == "failed"
    assert "Subworkflow step 'call' failed" in failed.error and "nope" in failed.error
    assert harness.children(instance_id) == []


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("terminate", "canceled"), ("request_cancel", "canceled"), ("abandon", "waiting")],
)
def test_a_canceled_parent_under_each_parent_close_policy(harness, policy, expected) -> None:
    name = child(harness, human("approve"), marker("C"))
    step = SubworkflowStep(name="call", workflow=name, on_parent_close=policy)
    instance_id = harness.start(parent(step))
    harness.cancel(instance_id, "order withdrawn")
    assert harness.get(instance_id).status == "canceled"
    [kid] = harness.children(instance_id)
    assert kid.status == expected
    if expected == "waiting":  # abandoned: it runs on, and resumes nothing when it ends
        harness.complete(kid.id, "approve", "bob", {})
        assert harness.get(kid.id).status == "completed"
        after = harness.get(instance_id)
        assert after.status == "canceled" and "b_done" not in after.data


def test_for_each_children_are_joined_in_item_order(harness) -> None:
    name = child(harness, human("order"), Step("got", lambda ctx: ctx.set("got", ctx.get("item"))))
    step = SubworkflowStep(name="call", workflow=name, for_each="devices", output={"d": "got"})
    instance_id = harness.start(parent(step), {"devices": ["laptop", "phone", "badge"]})
    kids = harness.children(instance_id)
    assert [k.data["item"] for k in kids] == ["laptop", "phone", "badge"]
    for kid in reversed(kids):  # they end in any order
        assert harness.get(instance_id).status == "waiting"
        harness.complete(kid.id, "order", "bob", {})
    done = harness.get(instance_id)
    assert done.status == "completed"
    assert done.data["call_results"] == [{"d": "laptop"}, {"d": "phone"}, {"d": "badge"}]
    assert done.data["b_done"] is True


def test_for_each_a_failed_child_fails_the_step_and_cancels_the_others(harness) -> None:
    name = child(harness, human("order"))
    step = SubworkflowStep(name="call", workflow=name, for_each="devices")
    instance_id = harness.start(parent(step), {"devices": [1, 2, 3]})
    first, *others = harness.children(instance_id)
    harness.cancel(first.id, "out of stock")
    assert harness.get(instance_id).status == "failed"
    assert [harness.get(k.id).status for k in others] == ["canceled", "canceled"]


def test_for_each_without_items_skips_the_step(harness) -> None:
    name = child(harness, human("order"))
    step = SubworkflowStep(name="call", workflow=name, for_each="devices")
    instance_id = harness.start(parent(step), {"devices": []})
    done = harness.get(instance_id)
    assert done.status == "completed"
    assert done.data["call_results"] == []
    assert harness.children(instance_id) == []


def test_a_suspended_parent_applies_its_childs_end_when_resumed(harness) -> None:
    name = child(harness, human("approve"))
    step = SubworkflowStep(name="call", workflow=name, output={"ok": "ok"})
    instance_id = harness.start(parent(step))
    [kid] = harness.children(instance_id)
    harness.suspend(instance_id, "audit", by="ops")
    harness.complete(kid.id, "approve", "bob", {"ok": 1})
    held = harness.get(instance_id)
    assert held.status == "suspended" and len(held.metadata["buffered_children"]) == 1
    harness.resume(instance_id, by="ops")
    done = harness.get(instance_id)
    assert done.status == "completed" and done.data["ok"] == 1
    assert "buffered_children" not in done.metadata
