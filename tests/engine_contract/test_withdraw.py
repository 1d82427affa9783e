"""Withdraw (docs/rework.rst): the user who started an instance cancels it while nobody has
worked on it. The in-memory engine keeps no tasks and has no claim: there, "nobody has
worked on it" means no human step of it has been completed."""

from __future__ import annotations

import pytest

from tests.engine_contract.kit import Edge, human, marker, workflow
from workflows_app import WorkflowStateError


def two_steps():
    after = marker("after")
    wf = workflow(
        [marker("A"), human("H1"), human("H2"), after],
        [Edge("A", "H1"), Edge("H1", "H2"), Edge("H2", "after")],
    )
    return wf, after


def test_the_starter_withdraws_an_instance_nobody_worked_on(harness, bus) -> None:
    wf, after = two_steps()
    instance_id = harness.start(wf, created_by="ann")
    harness.withdraw(instance_id, by="ann")
    withdrawn = harness.get(instance_id)
    assert (withdrawn.status, withdrawn.error, after.calls) == (
        "canceled",
        "Canceled: withdrawn by ann",
        0,
    )
    assert withdrawn.trail == [("A", "succeeded"), ("H1", "canceled")]
    [entry] = withdrawn.metadata["withdrawn"]
    assert (entry["by"], entry["reason"]) == ("ann", "withdrawn by ann")
    assert bus.of("workflow.canceled") == [
        {"instance_id": instance_id, "reason": "withdrawn by ann"}
    ]
    assert bus.of("workflow.withdrawn") == [
        {"instance_id": instance_id, "reason": "withdrawn by ann", "withdrawn_by": "ann"}
    ]
    if harness.has_tasks:
        assert [t["status"] for t in harness.tasks(instance_id)] == ["canceled"]


def test_a_withdrawal_by_another_user_is_refused_and_changes_nothing(harness) -> None:
    wf, _ = two_steps()
    instance_id = harness.start(wf, created_by="ann")
    anonymous = harness.start(wf)
    before = harness.fingerprint()
    for target, by in ((instance_id, "bob"), (instance_id, ""), (anonymous, "ann")):
        with pytest.raises(WorkflowStateError, match="only the user who started it"):
            harness.withdraw(target, by=by)
    assert harness.fingerprint() == before


def test_an_instance_with_a_completed_step_cannot_be_withdrawn(harness) -> None:
    wf, _ = two_steps()
    instance_id = harness.start(wf, created_by="ann")
    harness.complete(instance_id, "H1", "bob", {})
    before = harness.fingerprint()
    with pytest.raises(WorkflowStateError, match="a task of it has been completed"):
        harness.withdraw(instance_id, by="ann")
    assert harness.fingerprint() == before


def test_a_finished_instance_cannot_be_withdrawn(harness) -> None:
    instance_id = harness.start(workflow([marker("A")], []), created_by="ann")
    waiting = harness.start(two_steps()[0], created_by="ann")
    harness.cancel(waiting, "no")
    before = harness.fingerprint()
    for target in (instance_id, waiting):
        with pytest.raises(WorkflowStateError, match="only a running or waiting instance"):
            harness.withdraw(target, by="ann")
    assert harness.fingerprint() == before
