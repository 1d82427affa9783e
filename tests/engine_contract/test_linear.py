"""Starting instances and straight runs (scenarios 1 to 3, 13 and 14)."""

from __future__ import annotations

import uuid

import pytest

from tests.engine_contract.kit import Edge, Step, human, marker, workflow
from workflows_app import (
    BaseMachineStep,
    Workflow,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowValidationError,
)


def linear():
    return workflow(
        [marker("A"), marker("B"), marker("C")],
        [Edge("A", "B"), Edge("B", "C")],
        terminal={"C"},
    )


def test_linear_run__scenario_1(harness) -> None:
    wf = linear()
    instance = harness.get(harness.start(wf, {"x": 1}))
    assert (instance.status, instance.current_step, instance.error) == ("completed", None, None)
    assert instance.started_at <= instance.completed_at
    assert instance.trail == [("A", "succeeded"), ("B", "succeeded"), ("C", "succeeded")]
    assert [e.output for e in instance.history] == [{"s": "A"}, {"s": "B"}, {"s": "C"}]
    assert all(e.error is None and e.started_at <= e.completed_at for e in instance.history)
    assert instance.history[0].completed_at <= instance.history[1].started_at
    assert instance.data == {"x": 1, "a_done": True, "b_done": True, "c_done": True}
    assert (instance.workflow_name, instance.workflow_version) == (wf.name, "1.0.0")
    assert instance.metadata["workflow_name"] == wf.name
    assert instance.metadata["workflow_version"] == "1.0.0"


def test_the_callers_initial_data_is_left_alone(harness) -> None:
    initial = {"x": 1}
    harness.start(linear(), initial)
    assert initial == {"x": 1}


def test_linear_run__events__scenario_21(harness, bus) -> None:
    instance_id = harness.start(workflow([marker("A"), marker("B")], [Edge("A", "B")]))
    assert [(name, kw) for name, kw in bus.events if name.startswith("workflow.")] == [
        ("workflow.started", {"instance_id": instance_id}),
        ("workflow.completed", {"instance_id": instance_id, "status": "completed"}),
    ]
    assert [(name, kw["step_name"]) for name, kw in bus.events if name.startswith("step.")] == [
        ("step.started", "A"),
        ("step.completed", "A"),
        ("step.started", "B"),
        ("step.completed", "B"),
    ]
    assert bus.of("step.started")[0] == {
        "instance_id": instance_id,
        "step_name": "A",
        "step_type": "machine",
    }
    assert bus.of("step.completed")[0] == {
        "instance_id": instance_id,
        "step_name": "A",
        "result": {"s": "A"},
    }
    assert all(kw["instance_id"] == instance_id for _, kw in bus.events)
    assert bus.events[0][0] == "workflow.started"
    assert bus.events[-1][0] == "workflow.completed"


def test_each_start_is_a_new_instance(harness, bus) -> None:
    wf = workflow([marker("A")], [])
    first, second = harness.start(wf, {"n": 1}), harness.start(wf, {"n": 2})
    assert first != second
    assert harness.get(first).data == {"n": 1, "a_done": True}
    assert harness.get(second).data == {"n": 2, "a_done": True}
    assert bus.of("workflow.started") == [{"instance_id": first}, {"instance_id": second}]
    assert [kw["instance_id"] for kw in bus.of("workflow.completed")] == [first, second]


def test_without_initial_data_the_data_starts_empty(harness) -> None:
    seen = {}
    step = Step("A", lambda ctx: seen.update(data=dict(ctx.data)))
    harness.start(workflow([step], []))
    assert seen["data"] == {}


def test_terminal_step_runs_and_ends_the_run__scenario_2(harness) -> None:
    after = marker("after")
    wf = workflow(
        [marker("A"), marker("B"), after], [Edge("A", "B"), Edge("B", "after")], terminal={"B"}
    )
    instance = harness.get(harness.start(wf))
    assert instance.status == "completed"
    assert instance.names == ["A", "B"]
    assert instance.data == {"a_done": True, "b_done": True}
    assert after.calls == 0


def test_a_step_without_edges_ends_the_run__scenario_3(harness) -> None:
    only = marker("only")
    instance = harness.get(harness.start(workflow([only], [])))
    assert (instance.status, instance.current_step) == ("completed", None)
    assert instance.names == ["only"]
    assert only.calls == 1


def test_no_condition_holds_ends_the_run(harness) -> None:
    nxt = marker("next")
    instance = harness.get(
        harness.start(workflow([marker("A"), nxt], [Edge("A", "next", lambda ctx: False)]))
    )
    assert instance.status == "completed"
    assert instance.names == ["A"]
    assert nxt.calls == 0


def test_step_results_are_recorded_and_not_merged_into_the_data(harness) -> None:
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
    instance = harness.get(harness.start(wf, {"x": 1}))
    assert [e.output for e in instance.history] == [
        {"k": 1},
        {"result": 42},
        {"result": [1, "two"]},
        {"result": "text"},
        None,
    ]
    # A dict result is the result itself (other values are engine-specific: the in-memory
    # engine keeps the value, the database stores its JSON object form).
    assert (instance.history[0].result, instance.history[-1].result) == ({"k": 1}, None)
    assert instance.data == {"x": 1}


def test_a_step_removing_a_key_removes_it(harness) -> None:
    wf = workflow([Step("drop", lambda ctx: ctx.data.pop("tmp")), marker("B")], [Edge("drop", "B")])
    instance = harness.get(harness.start(wf, {"tmp": 1, "keep": 2}))
    assert instance.data == {"keep": 2, "b_done": True}


def test_tenant_creator_and_metadata_reach_the_context(harness) -> None:
    seen = {}

    def look(ctx):
        seen.update(tenant=ctx.tenant_id, user=ctx.user_id, source=ctx.metadata.get("source"))

    wf = workflow([Step("A", look)], [])
    instance = harness.get(
        harness.start(wf, {"x": 1}, tenant_id="t1", created_by="u1", metadata={"source": "api"})
    )
    assert seen == {"tenant": "t1", "user": "u1", "source": "api"}
    assert (instance.tenant_id, instance.user_id) == ("t1", "u1")
    assert instance.metadata["source"] == "api"
    assert instance.metadata["workflow_name"] == wf.name


def test_start_by_registered_name_takes_the_latest_version_or_the_one_asked(harness) -> None:
    harness.registry.register(workflow([marker("old")], [], name="named", version="9.1.0"))
    harness.registry.register(workflow([marker("new")], [], name="named", version="10.0.0"))
    latest = harness.get(harness.start("named", {"x": 1}))
    assert (latest.workflow_version, latest.names, latest.status) == (
        "10.0.0",
        ["new"],
        "completed",
    )
    pinned = harness.get(harness.start("named", version="9.1.0"))
    assert (pinned.workflow_version, pinned.names) == ("9.1.0", ["old"])


def test_start_of_an_unknown_name_or_version_raises_and_changes_nothing(harness) -> None:
    harness.registry.register(workflow([marker("A")], [], name="named", version="1.0.0"))
    before = harness.fingerprint()
    with pytest.raises(WorkflowNotFoundError) as excinfo:
        harness.start("no_such_workflow")
    assert "no_such_workflow" in str(excinfo.value)
    assert isinstance(excinfo.value, KeyError)
    with pytest.raises(WorkflowNotFoundError, match=r"9\.9\.9"):
        harness.start("named", version="9.9.9")
    assert harness.fingerprint() == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"data": ["not", "a", "dict"]}, "initial_data must be a dict", id="list-data"),
        pytest.param({"metadata": 3}, "metadata must be a dict", id="int-metadata"),
        pytest.param({"tenant_id": 7}, "tenant_id must be a string", id="int-tenant"),
    ],
)
def test_start_with_bad_arguments_raises_and_changes_nothing(harness, kwargs, message) -> None:
    before = harness.fingerprint()
    with pytest.raises(WorkflowValidationError, match=message):
        harness.start(workflow([marker("A")], []), **kwargs)
    assert harness.fingerprint() == before


def test_declarative_workflow_with_sync_and_async_steps(harness) -> None:
    class Fetch(BaseMachineStep):
        name = "fetch"

        def execute(self, context):
            context.set("fetched", context.get("n") * 2)
            return context.get("fetched")

    class Store(BaseMachineStep):
        name = "store"

        async def execute(self, context):
            context.set("stored", True)

    class Pipeline(Workflow):
        name = "pipeline"
        version = "1.0.0"
        steps = [Fetch(), Store()]
        edges = [("fetch", "store")]

    instance = harness.get(harness.start(Pipeline, {"n": 21}))
    assert (instance.status, instance.workflow_name) == ("completed", "pipeline")
    assert instance.data == {"n": 21, "fetched": 42, "stored": True}
    assert [(e.step, e.output) for e in instance.history] == [
        ("fetch", {"result": 42}),
        ("store", None),
    ]


def test_edges_declared_with_step_classes(harness) -> None:
    class First(BaseMachineStep):
        name = "first"

        def execute(self, context):
            return 1

    class Second(BaseMachineStep):
        name = "second"

        def execute(self, context):
            return 2

    instance = harness.get(harness.start(workflow([First(), Second()], [Edge(First, Second)])))
    assert instance.names == ["first", "second"]


def test_an_edge_to_a_missing_step_fails_the_instance__scenario_14(harness) -> None:
    instance = harness.get(harness.start(workflow([marker("A")], [Edge("A", "ghost")])))
    assert instance.status == "failed"
    assert "not found in definition" in instance.error
    assert "ghost" in instance.error
    assert instance.completed_at is not None
    assert instance.names == ["A"]


def test_unknown_instance__scenario_13(harness) -> None:
    harness.start(workflow([marker("A"), human("H")], [Edge("A", "H")]))
    missing = uuid.uuid4()
    before = harness.fingerprint()
    calls = [
        lambda: harness.get(missing),
        lambda: harness.complete(missing, "H", "u1", {}),
        lambda: harness.cancel(missing, "x"),
        lambda: harness.retry(missing),
    ]
    for call in calls:
        with pytest.raises(WorkflowInstanceNotFoundError) as excinfo:
            call()
        assert isinstance(excinfo.value, KeyError)
        assert "not found" in str(excinfo.value)
        assert str(missing) in str(excinfo.value)
    assert harness.fingerprint() == before
