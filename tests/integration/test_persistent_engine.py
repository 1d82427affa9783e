"""PersistentExecutionEngine: runs, routing, failures and lookups (scenarios 1 to 7, 13, 14, 21).

Each test reads the rows back from the database: the engine's return value is a snapshot.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db.utils import ConnectionDoesNotExist

from tests.integration.helpers import (
    Edge,
    Step,
    executions,
    human,
    marker,
    names,
    workflow,
)
from workflows_app import (
    BaseMachineStep,
    ExclusiveGateway,
    ParallelGateway,
    StepStatus,
    TimerStep,
    Workflow,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowRegistry,
)
from workflows_app.core import WorkflowInstanceData
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def linear():
    return workflow(
        [marker("A"), marker("B"), marker("C")],
        [Edge("A", "B"), Edge("B", "C")],
        name="linear",
        terminal={"C"},
    )


def boom(ctx):
    raise RuntimeError("boom")


def remember_failure(ctx, error):
    ctx.set("failed_hook", str(error))


# -- scenario 1: a linear run, with its rows ------------------------------------------


def test_linear_run__instance_row__scenario_1(engine) -> None:
    initial = {"x": 1}
    returned = engine.start_workflow_sync(
        linear(), initial, tenant_id="t1", created_by="u1", metadata={"source": "api"}
    )
    assert isinstance(returned, WorkflowInstanceData)
    assert returned.status == "completed"

    row = WorkflowInstanceModel.objects.get(pk=returned.id)
    assert row.status == "completed"
    assert row.current_step is None
    assert row.error is None
    assert row.completed_at is not None
    assert row.started_at <= row.completed_at
    assert row.context_data == {"x": 1, "a_done": True, "b_done": True, "c_done": True}
    assert (row.workflow_name, row.workflow_version) == ("linear", "1.0.0")
    assert (row.tenant_id, row.created_by) == ("t1", "u1")
    assert row.metadata["source"] == "api"
    assert row.metadata["workflow_name"] == "linear"
    assert row.tokens == []
    assert row.definition.name == "linear"
    assert initial == {"x": 1}


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
    returned = engine.start_workflow_sync(linear(), {"x": 1}, tenant_id="t1", created_by="u1")
    fetched = engine.get_instance_sync(returned.id)
    assert fetched.id == returned.id
    assert fetched.status == "completed"
    assert fetched.current_step is None
    assert fetched.completed_at is not None
    assert names(fetched) == ["A", "B", "C"]
    assert [str(e.status) for e in fetched.context.step_history] == ["succeeded"] * 3
    assert [e.result for e in fetched.context.step_history] == [{"s": "A"}, {"s": "B"}, {"s": "C"}]
    assert fetched.context.data == {"x": 1, "a_done": True, "b_done": True, "c_done": True}
    assert (fetched.context.tenant_id, fetched.context.user_id) == ("t1", "u1")
    row = WorkflowInstanceModel.objects.get(pk=returned.id)
    assert fetched.workflow_id == row.definition_id
    assert fetched.context.instance_id == returned.id
    # The instance is addressed by its id as a string too.
    assert engine.get_instance_sync(str(returned.id)).id == returned.id


def test_start__returns_a_snapshot(engine) -> None:
    wf = workflow([marker("A"), human("H"), marker("C")], [Edge("A", "H"), Edge("H", "C")])
    started = engine.start_workflow_sync(wf)
    engine.complete_human_task_sync(started.id, "H", "u1", {})
    assert started.status == "waiting"
    assert engine.get_instance_sync(started.id).status == "completed"


def test_start__each_start_is_its_own_row(engine) -> None:
    wf = workflow([marker("A")], [])
    first = engine.start_workflow_sync(wf, {"n": 1})
    second = engine.start_workflow_sync(wf, {"n": 2})
    assert first.id != second.id
    assert WorkflowInstanceModel.objects.count() == 2
    assert WorkflowInstanceModel.objects.get(pk=second.id).context_data == {"n": 2, "a_done": True}
    assert len(executions(first.id)) == len(executions(second.id)) == 1


def test_start__declarative_workflow_class(engine) -> None:
    class Fetch(BaseMachineStep):
        name = "fetch"

        def execute(self, context):
            context.set("fetched", context.get("n") * 2)
            return context.get("fetched")

    class Store(BaseMachineStep):
        name = "store"

        async def execute(self, context):  # an async step runs under the sync API too
            context.set("stored", True)

    class Pipeline(Workflow):
        name = "pipeline"
        version = "1.0.0"
        steps = [Fetch(), Store()]
        edges = [("fetch", "store")]

    instance = engine.start_workflow_sync(Pipeline, {"n": 21})
    assert instance.status == "completed"
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert row.context_data == {"n": 21, "fetched": 42, "stored": True}
    assert [(r.step_name, r.output_data) for r in executions(instance.id)] == [
        ("fetch", {"result": 42}),
        ("store", None),
    ]


def test_start__by_registered_name_and_version(engine, registry) -> None:
    registry.register(workflow([marker("old")], [], name="named", version="9.1.0"))
    registry.register(workflow([marker("new")], [], name="named", version="10.0.0"))
    latest = engine.start_workflow_sync("named")
    assert latest.workflow_version == "10.0.0"
    assert [r.step_name for r in executions(latest.id)] == ["new"]
    pinned = engine.start_workflow_sync("named", version="9.1.0")
    assert WorkflowInstanceModel.objects.get(pk=pinned.id).workflow_version == "9.1.0"
    assert [r.step_name for r in executions(pinned.id)] == ["old"]


def test_start__unknown_name_writes_nothing(engine) -> None:
    with pytest.raises(WorkflowNotFoundError):
        engine.start_workflow_sync("no_such_workflow")
    assert WorkflowInstanceModel.objects.count() == 0


# -- scenarios 2 to 6: ends and routing ---------------------------------------------


def test_terminal_step_executes__scenario_2(engine) -> None:
    after = marker("after")
    wf = workflow(
        [marker("A"), marker("B"), after], [Edge("A", "B"), Edge("B", "after")], terminal={"B"}
    )
    instance = engine.start_workflow_sync(wf)
    assert [r.step_name for r in executions(instance.id)] == ["A", "B"]
    assert WorkflowInstanceModel.objects.get(pk=instance.id).context_data == {
        "a_done": True,
        "b_done": True,
    }
    assert after.calls == 0


def test_implicit_end__scenario_3(engine) -> None:
    only = marker("only")
    instance = engine.start_workflow_sync(workflow([only], []))
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert (row.status, row.current_step) == ("completed", None)
    assert [r.step_name for r in executions(instance.id)] == ["only"]
    assert only.calls == 1


def test_all_conditions_false_completes(engine) -> None:
    nxt = marker("next")
    wf = workflow([marker("A"), nxt], [Edge("A", "next", lambda ctx: False)])
    instance = engine.start_workflow_sync(wf)
    assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "completed"
    assert [r.step_name for r in executions(instance.id)] == ["A"]


def eligibility(approved_condition, rejected_condition):
    check = Step("check", lambda ctx: ctx.set("eligible", ctx.get("amount") < 1000))
    approved, rejected = marker("approved"), marker("rejected")
    wf = workflow(
        [check, approved, rejected],
        [
            Edge("check", "approved", approved_condition),
            Edge("check", "rejected", rejected_condition),
        ],
        name="eligibility",
        terminal={"approved", "rejected"},
    )
    return wf, approved, rejected


def test_callable_conditions_pick_one_branch__scenario_4(engine) -> None:
    wf, approved, rejected = eligibility(
        lambda ctx: ctx.get("eligible") is True, lambda ctx: ctx.get("eligible") is False
    )
    small = engine.start_workflow_sync(wf, {"amount": 500})
    big = engine.start_workflow_sync(wf, {"amount": 5000})
    assert [r.step_name for r in executions(small.id)] == ["check", "approved"]
    assert [r.step_name for r in executions(big.id)] == ["check", "rejected"]
    assert (approved.calls, rejected.calls) == (1, 1)
    for instance, eligible in ((small, True), (big, False)):
        row = WorkflowInstanceModel.objects.get(pk=instance.id)
        assert row.status == "completed"
        assert row.context_data["eligible"] is eligible


def test_string_conditions_pick_one_branch__scenario_5(engine) -> None:
    review, auto = marker("manager_review"), marker("auto_approve")
    wf = workflow(
        [marker("submit"), review, auto],
        [
            Edge("submit", "manager_review", "context.get('amount', 0) >= 1000"),
            Edge("submit", "auto_approve", "context.get('amount', 0) < 1000"),
        ],
        terminal={"manager_review", "auto_approve"},
    )
    big = engine.start_workflow_sync(wf, {"amount": 1500})
    small = engine.start_workflow_sync(wf, {"amount": 10})
    assert [r.step_name for r in executions(big.id)] == ["submit", "manager_review"]
    assert [r.step_name for r in executions(small.id)] == ["submit", "auto_approve"]
    assert (review.calls, auto.calls) == (1, 1)


def test_guard_skip_row__scenario_6(engine, bus, committed) -> None:
    guarded = Step("G", lambda ctx: ctx.set("g_ran", True), guard=lambda ctx: False)
    after = marker("B")
    with committed():
        instance = engine.start_workflow_sync(workflow([guarded, after], [Edge("G", "B")]))
    skipped, ran = executions(instance.id)
    assert (skipped.step_name, skipped.status, skipped.output_data) == ("G", "skipped", None)
    assert skipped.error is None
    assert skipped.completed_at is not None
    assert (ran.step_name, ran.status) == ("B", "succeeded")
    assert guarded.calls == 0
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert row.status == "completed"
    assert "g_ran" not in row.context_data
    fetched = engine.get_instance_sync(instance.id)
    assert fetched.context.step_history[0].status == StepStatus.SKIPPED
    assert fetched.context.step_history[0].result is None
    assert [kw["step_name"] for kw in bus.of("step.skipped")] == ["G"]


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


def test_step_return_values_are_not_merged_into_context(engine) -> None:
    instance = engine.start_workflow_sync(
        workflow([Step("A", lambda ctx: {"secret": 1})], []), {"x": 1}
    )
    assert WorkflowInstanceModel.objects.get(pk=instance.id).context_data == {"x": 1}


def test_step_removing_a_key_is_persisted(engine) -> None:
    wf = workflow([Step("drop", lambda ctx: ctx.data.pop("tmp")), marker("B")], [Edge("drop", "B")])
    instance = engine.start_workflow_sync(wf, {"tmp": 1, "keep": 2})
    assert WorkflowInstanceModel.objects.get(pk=instance.id).context_data == {
        "keep": 2,
        "b_done": True,
    }


def test_revision_loop_records_every_round(engine) -> None:
    def review(ctx):
        ctx.set("rounds", ctx.get("rounds", 0) + 1)
        ctx.set("approved", ctx.get("rounds") >= 3)

    wf = workflow(
        [marker("draft"), Step("review", review), marker("revise"), marker("publish")],
        [
            Edge("draft", "review"),
            Edge("review", "revise", "not approved"),
            Edge("revise", "review"),
            Edge("review", "publish", "approved"),
        ],
        terminal={"publish"},
    )
    instance = engine.start_workflow_sync(wf)
    assert [r.step_name for r in executions(instance.id)] == [
        "draft",
        "review",
        "revise",
        "review",
        "revise",
        "review",
        "publish",
    ]
    assert WorkflowInstanceModel.objects.get(pk=instance.id).context_data["rounds"] == 3


def test_timer_step_waits_for_a_worker_to_fire_it(engine, monkeypatch) -> None:
    # Timers are durable: the inline call stops at the timer; a worker fires it when due.
    from workflows_app.core import clock as clock_module
    from workflows_app.engine import semantics
    from workflows_app.engine.worker import Worker

    wf = workflow(
        [marker("A"), TimerStep(name="wait", duration=timedelta(milliseconds=5)), marker("B")],
        [Edge("A", "wait"), Edge("wait", "B")],
    )
    instance = engine.start_workflow_sync(wf)
    assert engine.get_instance_sync(instance.id).status == "running"
    assert [r.step_name for r in executions(instance.id)] == ["A"]

    later = semantics.utcnow() + timedelta(seconds=1)
    monkeypatch.setattr(clock_module, "utcnow", lambda: later)
    Worker(engine, burst=True).run()
    assert [(r.step_name, r.step_type, r.status) for r in executions(instance.id)] == [
        ("A", "machine", "succeeded"),
        ("wait", "timer", "succeeded"),
        ("B", "machine", "succeeded"),
    ]


# -- gateways ---------------------------------------------------------------------------


def test_exclusive_gateway_routes_to_the_returned_step(engine) -> None:
    a, b = marker("a"), marker("b")
    gateway = ExclusiveGateway(name="gw", condition=lambda ctx: "b" if ctx.get("pick_b") else "a")
    wf = workflow(
        [marker("start"), gateway, a, b], [Edge("start", "gw"), Edge("gw", "a"), Edge("gw", "b")]
    )
    picked_b = engine.start_workflow_sync(wf, {"pick_b": True})
    picked_a = engine.start_workflow_sync(wf, {"pick_b": False})
    rows = executions(picked_b.id)
    assert [(r.step_name, r.step_type) for r in rows] == [
        ("start", "machine"),
        ("gw", "gateway"),
        ("b", "machine"),
    ]
    assert rows[1].output_data == {"result": "b"}
    assert [r.step_name for r in executions(picked_a.id)] == ["start", "gw", "a"]
    assert (a.calls, b.calls) == (1, 1)


def test_parallel_gateway_fans_out_and_joins_once(engine) -> None:
    join = Step(
        "join", lambda ctx: ctx.set("joined", sorted(k for k in ctx.data if k.endswith("_done")))
    )
    wf = workflow(
        [ParallelGateway(name="fork", branches=["x", "y"]), marker("x"), marker("y"), join],
        [Edge("fork", "x"), Edge("fork", "y"), Edge("x", "join"), Edge("y", "join")],
        terminal={"join"},
    )
    instance = engine.start_workflow_sync(wf)
    rows = executions(instance.id)
    assert rows[0].step_name == "fork"
    assert sorted(r.step_name for r in rows[1:3]) == ["x", "y"]
    assert [r.step_name for r in rows[3:]] == ["join"]
    assert join.calls == 1
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert (row.status, row.context_data["joined"]) == ("completed", ["x_done", "y_done"])


# -- scenario 7 and 14: failures ------------------------------------------------------


def test_failure__instance_and_rows__scenario_7(engine, bus, committed) -> None:
    c = marker("C")
    f = Step("F", boom, on_fail=remember_failure)
    wf = workflow([marker("A"), f, c], [Edge("A", "F"), Edge("F", "C")], terminal={"C"})
    with committed():
        instance = engine.start_workflow_sync(wf, {"x": 1})
    assert instance.status == "failed"

    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert row.status == "failed"
    assert row.error == "boom"
    assert row.completed_at is not None
    assert row.current_step == "F"
    assert row.context_data == {"x": 1, "a_done": True, "failed_hook": "boom"}

    a_row, f_row = executions(instance.id)
    assert (a_row.step_name, a_row.status) == ("A", "succeeded")
    assert (f_row.step_name, f_row.status, f_row.error) == ("F", "failed", "boom")
    assert f_row.completed_at is not None
    assert f_row.output_data is None
    assert f_row.input_data == {"x": 1, "a_done": True}
    assert c.calls == 0

    fetched = engine.get_instance_sync(instance.id)
    assert (fetched.status, fetched.error, fetched.current_step) == ("failed", "boom", "F")
    assert [str(e.status) for e in fetched.context.step_history] == ["succeeded", "failed"]
    assert fetched.context.step_history[1].error == "boom"
    assert bus.of("workflow.failed") == [{"instance_id": instance.id, "status": "failed"}]
    assert bus.of("workflow.completed") == []


def test_failure__exception_without_message(engine) -> None:
    def raise_bare(ctx):
        raise KeyError

    instance = engine.start_workflow_sync(workflow([Step("F", raise_bare)], []))
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert row.status == "failed"
    assert row.error  # never empty: the exception's type name at least
    assert executions(instance.id)[0].error == row.error


def test_missing_step_at_runtime__scenario_14(engine) -> None:
    wf = workflow([marker("A")], [Edge("A", "ghost")])
    instance = engine.start_workflow_sync(wf)
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert row.status == "failed"
    assert "not found in definition" in row.error
    assert "ghost" in row.error
    assert row.completed_at is not None
    assert [r.step_name for r in executions(instance.id)] == ["A"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda ctx: ctx.set("when", datetime.now(UTC)), id="context-write"),
        pytest.param(lambda ctx: {"when": datetime.now(UTC)}, id="result"),
    ],
)
def test_non_json_step_data_fails_the_instance_instead_of_stranding_it(engine, body) -> None:
    # docs/concepts/context.rst asks for JSON-serialisable data. A step that breaks the rule
    # must not leave the instance "running" with a claimed branch that nothing will ever run
    # (retry refuses running instances): the step fails, and the instance with it.
    after = marker("B")
    wf = workflow([Step("A", body), after], [Edge("A", "B")])
    try:
        engine.start_workflow_sync(wf)
    except TypeError:
        pass  # whether the caller also sees the error is not the point here
    row = WorkflowInstanceModel.objects.get()
    assert (row.status, row.current_step) == ("failed", "A")
    assert "JSON" in (row.error or "")
    assert after.calls == 0


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


def test_lookup__message_names_the_id(engine) -> None:
    missing = uuid.uuid4()
    with pytest.raises(WorkflowInstanceNotFoundError, match=str(missing)):
        engine.get_instance_sync(missing)


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
