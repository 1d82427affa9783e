"""Human steps: pause, resume, form validation and completion errors (scenarios 8 to 11)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.engine_contract.kit import SCHEMA, Edge, human, marker, workflow
from workflows_app import (
    BaseHumanStep,
    TaskValidationError,
    Workflow,
    WorkflowStateError,
    WorkflowValidationError,
)


def approval(form_schema=SCHEMA):
    c = marker("C")
    wf = workflow(
        [marker("A"), human("H", title="Approve", form_schema=form_schema), c],
        [Edge("A", "H"), Edge("H", "C")],
        terminal={"C"},
    )
    return wf, c


def test_a_human_step_pauses_the_instance__scenario_8(harness, bus) -> None:
    wf, c = approval()
    instance = harness.get(harness.start(wf, {"x": 1}))
    assert (instance.status, instance.current_step) == ("waiting", "H")
    assert instance.completed_at is None
    assert instance.data == {"x": 1, "a_done": True}
    assert instance.names == ["A"]  # the waiting step is not history yet
    assert c.calls == 0
    assert bus.of("workflow.waiting") == [{"instance_id": instance.id, "step_name": "H"}]
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting"]
    if harness.has_tasks:
        [task] = harness.tasks(instance.id)
        assert (task["step"], task["status"]) == ("H", "pending")


def test_completing_the_task_resumes_the_instance__scenario_9(harness, bus) -> None:
    wf, c = approval()
    instance_id = harness.start(wf, {"x": 1})
    harness.complete(instance_id, "H", "u1", {"approved": True})
    instance = harness.get(instance_id)
    assert (instance.status, instance.current_step) == ("completed", None)
    assert instance.completed_at is not None
    assert instance.data == {"x": 1, "a_done": True, "approved": True, "c_done": True}
    assert instance.user_id == "u1"
    assert instance.trail == [("A", "succeeded"), ("H", "succeeded"), ("C", "succeeded")]
    entry = instance.history[1]
    assert entry.result == entry.output == {"approved": True}
    assert c.calls == 1
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting", "workflow.completed"]
    assert (
        "step.completed",
        {"instance_id": instance_id, "step_name": "H", "result": {"approved": True}},
    ) in bus.events
    if harness.has_tasks:
        [task] = harness.tasks(instance_id)
        assert (task["status"], task["completed_by"]) == ("completed", "u1")


def test_a_human_step_is_recorded_from_when_it_began_to_wait(harness) -> None:
    wf, _ = approval()
    instance_id = harness.start(wf)
    waited_from = harness.get(instance_id).history[0].completed_at
    harness.advance(3600)  # the person takes an hour
    harness.complete(instance_id, "H", "u1", {"approved": True})
    entry = harness.get(instance_id).entries("H")[0]
    assert entry.started_at <= waited_from + timedelta(seconds=5)
    assert entry.completed_at - entry.started_at >= timedelta(hours=1)


def test_the_first_step_can_be_human(harness) -> None:
    instance = harness.get(harness.start(workflow([human("H"), marker("B")], [Edge("H", "B")])))
    assert (instance.status, instance.current_step, instance.names) == ("waiting", "H", [])
    if harness.has_tasks:
        assert [(t["step"], t["status"]) for t in harness.tasks(instance.id)] == [("H", "pending")]


def test_a_human_step_without_outgoing_edges_ends_the_run(harness) -> None:
    instance_id = harness.start(workflow([marker("A"), human("H")], [Edge("A", "H")]))
    harness.complete(instance_id, "H", "u1", {"ok": True})
    instance = harness.get(instance_id)
    assert (instance.status, instance.current_step) == ("completed", None)
    assert instance.names == ["A", "H"]
    assert instance.data == {"a_done": True, "ok": True}


def test_resume_into_another_human_step(harness, bus) -> None:
    wf = workflow(
        [human("first"), human("second", assignee_key="next_user"), marker("end")],
        [Edge("first", "second"), Edge("second", "end")],
    )
    instance_id = harness.start(wf)
    assert harness.get(instance_id).current_step == "first"
    harness.complete(instance_id, "first", "u1", {"next_user": "u2"})
    middle = harness.get(instance_id)
    assert (middle.status, middle.current_step, middle.user_id) == ("waiting", "second", "u1")
    if harness.has_tasks:
        tasks = harness.tasks(instance_id)
        assert [(t["step"], t["status"], t["assignee"]) for t in tasks] == [
            ("first", "completed", None),
            ("second", "pending", "u2"),
        ]
    harness.complete(instance_id, "second", "u2", {"two": 2})
    done = harness.get(instance_id)
    assert (done.status, done.user_id) == ("completed", "u2")
    assert done.names == ["first", "second", "end"]
    assert [kw["step_name"] for kw in bus.of("workflow.waiting")] == ["first", "second"]


@pytest.mark.parametrize(
    ("approve_if", "reject_if"),
    [
        pytest.param(
            lambda ctx: ctx.get("approved") is True,
            lambda ctx: ctx.get("approved") is False,
            id="callable",
        ),
        pytest.param("approved", "not approved", id="string"),
    ],
)
def test_conditions_after_a_human_step_see_the_submitted_data__scenario_11(
    harness, approve_if, reject_if
) -> None:
    approve, reject = marker("approve"), marker("reject")
    wf = workflow(
        [human("H"), approve, reject],
        [Edge("H", "approve", approve_if), Edge("H", "reject", reject_if)],
    )
    rejected = harness.start(wf)
    harness.complete(rejected, "H", "u1", {"approved": False})
    assert harness.get(rejected).names == ["H", "reject"]
    approved = harness.start(wf)
    harness.complete(approved, "H", "u1", {"approved": True})
    assert harness.get(approved).names == ["H", "approve"]
    assert (approve.calls, reject.calls) == (1, 1)


def test_a_loop_back_to_a_human_step_waits_again(harness) -> None:
    revise = marker("revise")
    wf = workflow(
        [marker("A"), human("H"), revise, marker("done")],
        [
            Edge("A", "H"),
            Edge("H", "revise", "not approved"),
            Edge("revise", "H"),
            Edge("H", "done", "approved"),
        ],
    )
    instance_id = harness.start(wf)
    harness.complete(instance_id, "H", "u1", {"approved": False})
    again = harness.get(instance_id)
    assert (again.status, again.current_step) == ("waiting", "H")
    assert again.names == ["A", "H", "revise"]
    if harness.has_tasks:
        assert [t["status"] for t in harness.tasks(instance_id)] == ["completed", "pending"]
    harness.complete(instance_id, "H", "u2", {"approved": True})
    done = harness.get(instance_id)
    assert done.status == "completed"
    assert done.names == ["A", "H", "revise", "H", "done"]
    assert revise.calls == 1
    if harness.has_tasks:
        assert [(t["status"], t["completed_by"]) for t in harness.tasks(instance_id)] == [
            ("completed", "u1"),
            ("completed", "u2"),
        ]


def test_invalid_form_data_is_refused_field_by_field_and_changes_nothing(harness) -> None:
    wf, c = approval()
    instance_id = harness.start(wf, {"x": 1})
    before = harness.fingerprint()
    with pytest.raises(TaskValidationError) as excinfo:
        harness.complete(instance_id, "H", "u1", {"amount": "lots", "items": [{"qty": "x"}]})
    error = excinfo.value
    assert isinstance(error, WorkflowValidationError)
    assert len(error.errors) == 3
    # A missing required property is reported under the property's own path.
    assert set(error.field_errors) == {"amount", "items/0/qty", "approved"}
    assert all(len(messages) == 1 for messages in error.field_errors.values())
    assert harness.fingerprint() == before
    after = harness.get(instance_id)
    assert (after.status, after.current_step, after.user_id) == ("waiting", "H", None)
    assert c.calls == 0


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        pytest.param({"approved": True, "amount": -5}, ["amount"], id="one-field"),
        pytest.param(["approved"], [""], id="not-an-object"),
    ],
)
def test_invalid_form_data_errors(harness, data, fields) -> None:
    wf, _ = approval()
    instance_id = harness.start(wf)
    before = harness.fingerprint()
    with pytest.raises(TaskValidationError) as excinfo:
        harness.complete(instance_id, "H", "u1", data)
    assert list(excinfo.value.field_errors) == fields
    assert len(excinfo.value.errors) == 1
    assert harness.fingerprint() == before


def test_a_root_level_error_is_keyed_by_the_empty_path(harness) -> None:
    schema = {"type": "object", "maxProperties": 1, "properties": {"n": {"type": "integer"}}}
    wf, _ = approval(form_schema=schema)
    instance_id = harness.start(wf)
    with pytest.raises(TaskValidationError) as excinfo:
        harness.complete(instance_id, "H", "u1", {"n": "one", "m": 2})
    assert set(excinfo.value.field_errors) == {"", "n"}
    assert len(excinfo.value.errors) == 2
    assert harness.get(instance_id).status == "waiting"


def test_valid_data_after_an_invalid_attempt_completes(harness) -> None:
    wf, _ = approval()
    instance_id = harness.start(wf)
    with pytest.raises(TaskValidationError):
        harness.complete(instance_id, "H", "u1", {"approved": "yes"})
    harness.complete(
        instance_id, "H", "u1", {"approved": True, "amount": 10, "items": [{"qty": 2}]}
    )
    instance = harness.get(instance_id)
    assert instance.status == "completed"
    assert instance.data["items"] == [{"qty": 2}]


def test_without_a_form_schema_any_data_is_accepted(harness) -> None:
    wf, _ = approval(form_schema=None)
    instance_id = harness.start(wf)
    harness.complete(instance_id, "H", "u1", {"anything": [1, 2]})
    assert harness.get(instance_id).status == "completed"


def test_a_steps_own_async_validation_adds_its_errors(harness) -> None:
    class Amount(BaseHumanStep):
        name = "amount"
        form_schema = {"type": "object", "properties": {"amount": {"type": "number"}}}

        async def validate_submission(self, data):
            if data.get("amount", 0) > 100:
                return {"amount": ["over the limit"]}
            return None

    wf = workflow([Amount(), marker("B")], [Edge("amount", "B")])
    instance_id = harness.start(wf)
    before = harness.fingerprint()
    with pytest.raises(TaskValidationError) as excinfo:
        harness.complete(instance_id, "amount", "u1", {"amount": 500})
    assert excinfo.value.field_errors == {"amount": ["over the limit"]}
    assert harness.fingerprint() == before
    harness.complete(instance_id, "amount", "u1", {"amount": 50})
    assert harness.get(instance_id).status == "completed"


@pytest.mark.parametrize("step_name", ["wrong_step", "A", "C"])
def test_completing_a_step_that_is_not_waiting_raises__scenario_10(harness, step_name) -> None:
    # "A" and "C" are machine steps of the definition, "wrong_step" is not a step at all.
    wf, _ = approval()
    instance_id = harness.start(wf)
    before = harness.fingerprint()
    with pytest.raises(WorkflowStateError) as excinfo:
        harness.complete(instance_id, step_name, "u1", {"approved": True})
    assert isinstance(excinfo.value, ValueError)
    assert "waiting at step 'H'" in str(excinfo.value)
    assert f"not '{step_name}'" in str(excinfo.value)
    assert harness.fingerprint() == before


def test_completing_on_a_finished_instance_raises__scenario_10(harness) -> None:
    instance_id = harness.start(workflow([marker("A")], []))
    with pytest.raises(WorkflowStateError, match="is not waiting"):
        harness.complete(instance_id, "A", "u1", {})


def test_completing_twice_raises_and_changes_nothing(harness) -> None:
    wf, c = approval()
    instance_id = harness.start(wf)
    harness.complete(instance_id, "H", "u1", {"approved": True})
    before = harness.fingerprint()
    # The persistent engine says TaskAlreadyCompletedError, the in-memory one (which has
    # no tasks) WorkflowStateError: both are ValueErrors.
    with pytest.raises(ValueError):
        harness.complete(instance_id, "H", "u2", {"approved": False})
    # Late data that would not even validate is told the same, not that its form is wrong.
    with pytest.raises(ValueError) as excinfo:
        harness.complete(instance_id, "H", "u2", {"approved": "not a boolean"})
    assert not isinstance(excinfo.value, TaskValidationError)
    assert harness.fingerprint() == before
    instance = harness.get(instance_id)
    assert (instance.data["approved"], instance.user_id) == (True, "u1")
    assert c.calls == 1


def test_declarative_workflow_with_a_class_attribute_human_step(harness) -> None:
    class Review(BaseHumanStep):
        name = "review"
        title = "Review"
        assignee_key = "author"
        assignee_group = "editors"
        form_schema = {
            "type": "object",
            "required": ["approved"],
            "properties": {"approved": {"type": "boolean"}},
        }

    class ReviewFlow(Workflow):
        name = "review_flow"
        version = "1.0.0"
        steps = [marker("submit"), Review(), marker("publish")]
        edges = [("submit", "review"), ("review", "publish", "approved")]

    instance_id = harness.start(ReviewFlow, {"author": "ann"})
    assert (harness.get(instance_id).status, harness.get(instance_id).current_step) == (
        "waiting",
        "review",
    )
    if harness.has_tasks:
        [task] = harness.tasks(instance_id)
        assert (task["title"], task["assignee"], task["group"]) == ("Review", "ann", "editors")
    with pytest.raises(TaskValidationError):
        harness.complete(instance_id, "review", "ann", {})
    harness.complete(instance_id, "review", "ann", {"approved": True})
    instance = harness.get(instance_id)
    assert instance.status == "completed"
    assert instance.names == ["submit", "review", "publish"]


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), "\ud800", "a\x00b", {"\ud800": 1}],
    ids=["nan", "infinity", "surrogate", "nul", "surrogate-key"],
)
def test_values_no_database_stores_are_refused_and_change_nothing(harness, value) -> None:
    """The storage rule of core/jsonvalues holds for every engine: at the start, for the
    metadata and for a task's data."""
    wf = workflow([human("review")], [])
    with pytest.raises(WorkflowValidationError):
        harness.start(wf, {"x": value})
    with pytest.raises(WorkflowValidationError):
        harness.start(wf, {}, metadata={"x": value})
    instance_id = harness.start(wf)
    before = harness.fingerprint()
    with pytest.raises(TaskValidationError):
        harness.complete(instance_id, "review", "u1", {"x": value})
    assert harness.fingerprint() == before
