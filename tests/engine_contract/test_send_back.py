"""Send back for rework (docs/rework.rst): a waiting human step returns its instance to an
earlier step of the same branch, which runs again as a new execution; the first attempt's
history is kept."""

from __future__ import annotations

import pytest

from tests.engine_contract.kit import Edge, Step, human, marker, workflow
from workflows_app import WorkflowStateError, WorkflowValidationError


def reviewer(name: str, *back: str):
    step = human(name)
    step.send_back_to = list(back)
    return step


def drafting():
    after = marker("after")
    wf = workflow(
        [human("draft"), reviewer("review", "draft"), after],
        [Edge("draft", "review"), Edge("review", "after")],
    )
    return wf, after


def test_a_step_sent_back_runs_again_and_the_history_is_kept(harness, bus) -> None:
    wf, after = drafting()
    instance_id = harness.start(wf)
    harness.complete(instance_id, "draft", "ann", {"text": "v1"})
    harness.send_back(instance_id, "review", "draft", "too short", by="bob")

    back = harness.get(instance_id)
    assert (back.status, back.current_step) == ("waiting", "draft")
    assert back.trail == [("draft", "succeeded"), ("review", "canceled")]
    assert "too short" in back.entries("review")[0].error
    [sent] = back.metadata["sent_back"]
    assert (sent["from_step"], sent["to_step"], sent["reason"], sent["by"]) == (
        "review",
        "draft",
        "too short",
        "bob",
    )
    [event] = bus.of("workflow.sent_back")
    assert (event["instance_id"], event["from_step"], event["to_step"]) == (
        instance_id,
        "review",
        "draft",
    )
    assert (event["reason"], event["sent_back_by"]) == ("too short", "bob")
    if harness.has_tasks:
        assert [(t["step"], t["status"]) for t in harness.tasks(instance_id)] == [
            ("draft", "completed"),
            ("review", "canceled"),
            ("draft", "pending"),
        ]

    harness.complete(instance_id, "draft", "ann", {"text": "v2"})
    harness.complete(instance_id, "review", "bob", {})
    done = harness.get(instance_id)
    assert (done.status, after.calls, done.data["text"]) == ("completed", 1, "v2")
    assert done.trail == [
        ("draft", "succeeded"),
        ("review", "canceled"),
        ("draft", "succeeded"),
        ("review", "succeeded"),
        ("after", "succeeded"),
    ]


def test_a_machine_step_sent_back_to_runs_again(harness) -> None:
    prepare = marker("prepare")
    wf = workflow([prepare, reviewer("review", "prepare")], [Edge("prepare", "review")])
    instance_id = harness.start(wf)
    harness.send_back(instance_id, "review", "prepare", "stale data", by="bob")
    again = harness.get(instance_id)
    assert (again.status, again.current_step, prepare.calls) == ("waiting", "review", 2)
    assert again.names == ["prepare", "review", "prepare"]


@pytest.mark.parametrize(
    ("to_step", "reason", "message"),
    [
        ("after", "why", "may send back only to 'draft'"),
        ("nowhere", "why", "not a step of workflow"),
        ("draft", "", "reason must be a non-empty string"),
        ("draft", "x" * 2001, "reason must be at most 2000"),
        ("", "why", "to_step must be a non-empty string"),
    ],
)
def test_a_refused_send_back_changes_nothing(harness, to_step, reason, message) -> None:
    wf, _ = drafting()
    instance_id = harness.start(wf)
    harness.complete(instance_id, "draft", "ann", {})
    before = harness.fingerprint()
    with pytest.raises(WorkflowValidationError, match=message):
        harness.send_back(instance_id, "review", to_step, reason, by="bob")
    assert harness.fingerprint() == before


def test_a_step_without_send_back_to_cannot_send_back(harness) -> None:
    wf = workflow([human("draft"), human("review")], [Edge("draft", "review")])
    instance_id = harness.start(wf)
    harness.complete(instance_id, "draft", "ann", {})
    before = harness.fingerprint()
    with pytest.raises(WorkflowValidationError, match="allows no send back"):
        harness.send_back(instance_id, "review", "draft", "why", by="bob")
    assert harness.fingerprint() == before


def test_a_suspended_instance_cannot_be_sent_back(harness) -> None:
    wf, _ = drafting()
    instance_id = harness.start(wf)
    harness.complete(instance_id, "draft", "ann", {})
    harness.suspend(instance_id, "hold", by="ops")
    before = harness.fingerprint()
    with pytest.raises(WorkflowStateError, match="suspended"):
        harness.send_back(instance_id, "review", "draft", "why", by="bob")
    assert harness.fingerprint() == before


def test_a_send_back_within_a_parallel_branch_leaves_the_other_branch_alone(harness) -> None:
    other = Step("other", lambda ctx: None)
    wf = workflow(
        [marker("A"), marker("fix"), reviewer("check", "fix"), human("side"), other],
        [Edge("A", "fix"), Edge("A", "side"), Edge("fix", "check"), Edge("side", "other")],
    )
    instance_id = harness.start(wf)
    harness.send_back(instance_id, "check", "fix", "again", by="bob")
    waiting = harness.get(instance_id)
    assert waiting.status == "waiting"
    assert [e.step for e in waiting.history if e.step in ("fix", "check")] == [
        "fix",
        "check",
        "fix",
    ]
    harness.complete(instance_id, "side", "ann", {})
    harness.complete(instance_id, "check", "bob", {})
    done = harness.get(instance_id)
    assert (done.status, other.calls) == ("completed", 1)
