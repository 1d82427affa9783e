"""PersistentExecutionEngine: the rows a run writes, lookups, and constructing the engine
(scenarios 1, 7 and 13).

How workflows run is in tests/engine_contract (on this engine inline and in worker mode, and
on the in-memory one); these tests read what only the database has.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db.utils import ConnectionDoesNotExist

from tests.integration.helpers import (
    Edge,
    Step,
    executions,
    human,
    marker,
    workflow,
)
from workflows_app import (
    ExclusiveGateway,
    TimerStep,
    WebhookStep,
    WorkflowInstanceNotFoundError,
    WorkflowRegistry,
)
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.engine.worker import Worker
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def linear():
    return workflow(
        [marker("A"), marker("B"), marker("C")],
        [Edge("A", "B"), Edge("B", "C")],
        name="linear",
        terminal={"C"},
    )


# -- scenario 1: a linear run, with its rows ------------------------------------------


def test_linear_run__instance_row__scenario_1(engine) -> None:
    returned = engine.start_workflow_sync(
        linear(), {"x": 1}, tenant_id="t1", created_by="u1", metadata={"source": "api"}
    )
    row = WorkflowInstanceModel.objects.get(pk=returned.id)
    assert (row.status, row.current_step, row.error) == ("completed", None, None)
    assert row.started_at <= row.completed_at
    assert row.context_data == {"x": 1, "a_done": True, "b_done": True, "c_done": True}
    assert (row.workflow_name, row.workflow_version) == ("linear", "1.0.0")
    assert (row.tenant_id, row.created_by) == ("t1", "u1")
    assert row.metadata == {"source": "api", "workflow_name": "linear", "workflow_version": "1.0.0"}
    assert row.tokens == []
    assert (row.lease_owner, row.wake_at) == (None, None)
    assert row.definition.name == "linear"


def test_linear_run__step_rows__scenario_1(engine) -> None:
    returned = engine.start_workflow_sync(linear(), {"x": 1})
    rows = executions(returned.id)
    assert [(r.step_name, r.step_type, r.status) for r in rows] == [
        ("A", "machine", "succeeded"),
        ("B", "machine", "succeeded"),
        ("C", "machine", "succeeded"),
    ]
    assert [r.output_data for r in rows] == [{"s": "A"}, {"s": "B"}, {"s": "C"}]
    # input_data is the context as the step found it.
    assert [r.input_data for r in rows] == [
        {"x": 1},
        {"x": 1, "a_done": True},
        {"x": 1, "a_done": True, "b_done": True},
    ]
    for r in rows:
        assert r.error is None
        assert r.completed_at is not None
        assert r.started_at <= r.completed_at
        assert r.token_id
        assert (r.assigned_to, r.completed_by) == (None, None)
    assert rows[0].completed_at <= rows[1].started_at <= rows[2].started_at
    assert HumanTaskModel.objects.count() == 0


def test_linear_run__get_instance_rebuilds_from_rows__scenario_1(engine) -> None:
    returned = engine.start_workflow_sync(linear(), {"x": 1})
    fetched = engine.get_instance_sync(returned.id)
    row = WorkflowInstanceModel.objects.get(pk=returned.id)
    assert fetched.workflow_id == row.definition_id
    assert fetched.context.instance_id == returned.id
    assert [e.input_data for e in fetched.context.step_history] == [
        r.input_data for r in executions(returned.id)
    ]
    # The instance is addressed by its id as a string too.
    assert engine.get_instance_sync(str(returned.id)).id == returned.id


def test_start__returns_a_snapshot(engine) -> None:
    wf = workflow([marker("A"), human("H"), marker("C")], [Edge("A", "H"), Edge("H", "C")])
    started = engine.start_workflow_sync(wf)
    engine.complete_human_task_sync(started.id, "H", "u1", {})
    assert started.status == "waiting"
    assert engine.get_instance_sync(started.id).status == "completed"


def test_step_rows_record_the_step_type(engine, monkeypatch) -> None:
    from workflows_app.core import clock as clock_module
    from workflows_app.engine import semantics

    gateway = ExclusiveGateway(name="gw", condition=lambda ctx: "wait")
    wf = workflow(
        [
            marker("A"),
            gateway,
            TimerStep(name="wait", duration=timedelta(seconds=1)),
            human("H"),
            WebhookStep(name="hook"),
        ],
        [Edge("A", "gw"), Edge("gw", "wait"), Edge("wait", "H"), Edge("H", "hook")],
    )
    instance = engine.start_workflow_sync(wf)
    later = semantics.utcnow() + timedelta(seconds=1)
    monkeypatch.setattr(clock_module, "utcnow", lambda: later)
    Worker(engine, burst=True).run()
    engine.complete_human_task_sync(instance.id, "H", "u1", {})
    assert [(r.step_name, r.step_type, r.status) for r in executions(instance.id)] == [
        ("A", "machine", "succeeded"),
        ("gw", "gateway", "succeeded"),
        ("wait", "timer", "succeeded"),
        ("H", "human", "succeeded"),
        ("hook", "webhook", "waiting"),
    ]
    assert executions(instance.id, "gw")[0].output_data == {"result": "wait"}


def test_step_results_are_stored_as_json_objects(engine) -> None:
    wf = workflow(
        [
            Step("d", lambda ctx: {"k": 1}),
            Step("n", lambda ctx: 42),
            Step("l", lambda ctx: [1, "two"]),
            Step("s", lambda ctx: "text"),
            Step("z", lambda ctx: None),
        ],
        [Edge("d", "n"), Edge("n", "l"), Edge("l", "s"), Edge("s", "z")],
    )
    instance = engine.start_workflow_sync(wf)
    assert [r.output_data for r in executions(instance.id)] == [
        {"k": 1},
        {"result": 42},
        {"result": [1, "two"]},
        {"result": "text"},
        None,
    ]
    history = engine.get_instance_sync(instance.id).context.step_history
    assert [e.result for e in history] == [
        {"k": 1},
        {"result": 42},
        {"result": [1, "two"]},
        {"result": "text"},
        None,
    ]


# -- scenario 7: the rows of a failure ---------------------------------------------------


def test_failure__rows__scenario_7(engine) -> None:
    def boom(ctx):
        raise RuntimeError("boom")

    wf = workflow([marker("A"), Step("F", boom), marker("C")], [Edge("A", "F"), Edge("F", "C")])
    instance = engine.start_workflow_sync(wf, {"x": 1})
    _, f_row = executions(instance.id)
    assert (f_row.step_name, f_row.status, f_row.error) == ("F", "failed", "boom")
    assert f_row.input_data == {"x": 1, "a_done": True}
    assert (f_row.output_data, f_row.completed_at is not None) == (None, True)
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert (row.status, row.lease_owner, row.wake_at) == ("failed", None, None)
    assert [t["state"] for t in row.tokens] == ["failed"]


# -- scenario 13: lookups ----------------------------------------------------------------

MALFORMED = ["not-a-uuid", "", "1234", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", {"id": 1}, None]


@pytest.mark.parametrize("bad_id", [uuid.uuid4(), str(uuid.uuid4()), *MALFORMED], ids=repr)
def test_lookup__unknown_or_malformed_id__scenario_13(engine, bad_id) -> None:
    engine.start_workflow_sync(workflow([marker("A"), human("H")], [Edge("A", "H")]))
    before = WorkflowInstanceModel.objects.count()
    calls = [
        lambda: engine.get_instance_sync(bad_id),
        lambda: engine.complete_human_task_sync(bad_id, "H", "u1", {}),
        lambda: engine.cancel_workflow_sync(bad_id, "x"),
        lambda: engine.retry_sync(bad_id),
    ]
    for call in calls:
        with pytest.raises(WorkflowInstanceNotFoundError) as excinfo:
            call()
        assert isinstance(excinfo.value, KeyError)
        assert "not found" in str(excinfo.value)
    assert WorkflowInstanceModel.objects.count() == before
    assert WorkflowInstanceModel.objects.get().status == "waiting"


# -- constructor -----------------------------------------------------------------------


def test_constructor__upstream_signature_and_using(registry) -> None:
    engine = PersistentExecutionEngine(registry, None, None, using="default")
    assert engine.using == "default"
    assert PersistentExecutionEngine(registry=registry, session=object()).using == "default"
    instance = engine.start_workflow_sync(workflow([marker("A")], []))
    assert WorkflowInstanceModel.objects.using("default").get(pk=instance.id).status == "completed"


def test_constructor__unknown_alias_fails_loudly(registry) -> None:
    with pytest.raises(ConnectionDoesNotExist):
        PersistentExecutionEngine(registry, using="no_such_db").start_workflow_sync(
            workflow([marker("A")], [])
        )
    assert WorkflowInstanceModel.objects.count() == 0


def test_engines_share_state_through_the_database(registry) -> None:
    """A second engine (a later request, another process) sees and resumes the instance."""
    wf = workflow(
        [marker("A"), human("H"), marker("C")], [Edge("A", "H"), Edge("H", "C")], name="shared"
    )
    registry.register(wf)
    first = PersistentExecutionEngine(registry)
    started = first.start_workflow_sync(wf)
    second = PersistentExecutionEngine(registry)
    assert second.get_instance_sync(started.id).status == "waiting"
    second.complete_human_task_sync(started.id, "H", "u1", {})
    assert first.get_instance_sync(started.id).status == "completed"


def test_fresh_registry_per_engine_resumes_a_registered_workflow() -> None:
    """Resuming needs the definition in the registry (by name and version), not the class object."""
    first_registry, second_registry = WorkflowRegistry(), WorkflowRegistry()
    wf = workflow([human("H"), marker("C")], [Edge("H", "C")], name="by_registry")
    started = PersistentExecutionEngine(first_registry).start_workflow_sync(wf)
    second_registry.register(wf)
    PersistentExecutionEngine(second_registry).complete_human_task_sync(started.id, "H", "u1", {})
    assert WorkflowInstanceModel.objects.get(pk=started.id).status == "completed"
    assert StepExecutionModel.objects.filter(instance_id=started.id, step_name="C").count() == 1
