"""Edge and WorkflowDefinition: construction, validate(), get_next_steps() and Mermaid output."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    ExclusiveGateway,
    TimerStep,
    WorkflowDefinition,
)
from workflows_app.core import (
    WebhookStep,
    generate_mermaid_graph,
    generate_mermaid_graph_with_state,
    parse_graph_to_dict,
)
from workflows_app.core.definition import GraphChild


class Noop(BaseMachineStep):
    async def execute(self, context):
        return None


class Submit(BaseMachineStep):
    name = "submit"

    async def execute(self, context):
        return None


class Review(BaseHumanStep):
    name = "review"
    title = "Review it"


def defn(steps, edges, initial, terminal=None, name="wf") -> WorkflowDefinition:
    return WorkflowDefinition(
        name=name,
        version="1.0.0",
        description="d",
        steps={key: step for key, step in steps.items()},
        edges=edges,
        initial_step=initial,
        terminal_steps=set(terminal or ()),
    )


def machines(*names: str) -> dict:
    return {name: Noop(name=name) for name in names}


# ---------------------------------------------------------------- Edge


def test_edge__positional_and_equality() -> None:
    edge = Edge("a", "b")
    assert (edge.source, edge.target, edge.condition) == ("a", "b", None)
    assert edge == Edge("a", "b")
    assert edge != Edge("a", "c")
    assert Edge("a", "b", "x > 1") == Edge(source="a", target="b", condition="x > 1")
    assert [f.name for f in dataclasses.fields(Edge)] == ["source", "target", "condition"]


def test_edge__evaluate_condition_without_condition_is_true(kit) -> None:
    assert Edge("a", "b").evaluate_condition(kit.context()) is True


def test_edge__evaluate_condition_callable(kit) -> None:
    ctx = kit.context({"ok": True})
    assert Edge("a", "b", lambda c: c.get("ok") is True).evaluate_condition(ctx) is True
    assert Edge("a", "b", lambda c: c.get("ok") is False).evaluate_condition(ctx) is False


def test_edge__evaluate_condition_string_is_evaluated(kit) -> None:
    edge = Edge("a", "b", "context.get('amount', 0) >= 1000")
    assert edge.evaluate_condition(kit.context({"amount": 1500})) is True
    assert edge.evaluate_condition(kit.context({"amount": 999})) is False
    assert edge.evaluate_condition(kit.context({})) is False


def test_edge__source_and_target_names_from_strings_and_classes() -> None:
    assert Edge("a", "b").get_source_name() == "a"
    assert Edge("a", "b").get_target_name() == "b"
    edge = Edge(Submit, Review)
    assert edge.get_source_name() == "submit"
    assert edge.get_target_name() == "review"


# ---------------------------------------------------------------- WorkflowDefinition


def test_definition__positional_in_upstream_order() -> None:
    steps = machines("a", "b")
    edges = [Edge("a", "b")]
    definition = WorkflowDefinition("wf", "2.0.0", "desc", steps, edges, "a", {"b"})
    assert definition.name == "wf"
    assert definition.version == "2.0.0"
    assert definition.description == "desc"
    assert definition.steps is steps
    assert definition.edges is edges
    assert definition.initial_step == "a"
    assert definition.terminal_steps == {"b"}


def test_definition__terminal_steps_default_to_empty_set() -> None:
    definition = WorkflowDefinition("wf", "1", "d", machines("a"), [], "a")
    assert definition.terminal_steps == set()
    other = WorkflowDefinition("wf", "1", "d", machines("a"), [], "a")
    other.terminal_steps.add("a")
    assert definition.terminal_steps == set()


def test_definition__construction_does_not_validate() -> None:
    definition = WorkflowDefinition("wf", "1", "d", {}, [Edge("x", "y")], "missing")
    assert definition.initial_step == "missing"


def test_definition__validate_valid_returns_empty_list() -> None:
    definition = defn(machines("a", "b", "c"), [Edge("a", "b"), Edge("b", "c")], "a", {"c"})
    assert definition.validate() == []


def test_definition__validate_missing_initial_step() -> None:
    definition = defn(machines("a"), [], "nope", {"a"})
    assert definition.validate() == ["Initial step 'nope' not found in steps"]


def test_definition__validate_missing_terminal_step() -> None:
    definition = defn(machines("a"), [], "a", {"a", "ghost"})
    assert definition.validate() == ["Terminal step 'ghost' not found in steps"]


def test_definition__validate_edges_to_and_from_unknown_steps() -> None:
    definition = defn(
        machines("a", "b"),
        [Edge("a", "b"), Edge("a", "nowhere"), Edge("ghost", "b")],
        "a",
        {"b"},
    )
    assert definition.validate() == [
        "Edge 1: target step 'nowhere' not found",
        "Edge 2: source step 'ghost' not found",
    ]


def test_definition__validate_unreachable_step_but_not_unreachable_terminal() -> None:
    definition = defn(
        machines("a", "b", "orphan", "lonely_end"), [Edge("a", "b")], "a", {"b", "lonely_end"}
    )
    assert definition.validate() == ["Step 'orphan' is unreachable from initial step"]


def test_definition__validate_reachability_is_transitive_and_allows_cycles() -> None:
    definition = defn(
        machines("a", "b", "c", "d"),
        [Edge("a", "b"), Edge("b", "a"), Edge("b", "c"), Edge("c", "d"), Edge("d", "b")],
        "a",
        {"c"},
    )
    assert definition.validate() == []


def test_definition__get_next_steps_in_edge_order_with_conditions(kit) -> None:
    definition = defn(
        machines("a", "b", "c", "d", "e"),
        [
            Edge("a", "d"),
            Edge("a", "b", lambda ctx: ctx.get("go_b", False)),
            Edge("a", "c", "go_c"),
            Edge("b", "e"),
            Edge("a", "e", "not go_c"),
        ],
        "a",
    )
    assert definition.get_next_steps("a", kit.context({"go_b": True, "go_c": True})) == [
        "d",
        "b",
        "c",
    ]
    assert definition.get_next_steps("a", kit.context({})) == ["d", "e"]
    assert definition.get_next_steps("e", kit.context({})) == []


# ---------------------------------------------------------------- Mermaid (scenario 19)


def mermaid_definition() -> WorkflowDefinition:
    steps = {
        "submit_req": Noop(name="submit_req"),
        "review": BaseHumanStep(name="review", title="Review"),
        "gw": ExclusiveGateway(name="gw", condition=lambda ctx: "done"),
        "done": Noop(name="done"),
        "wait": TimerStep(name="wait", duration=timedelta(seconds=0)),
    }
    edges = [
        Edge("submit_req", "review"),
        Edge("review", "gw"),
        Edge("gw", "done", lambda ctx: True),
        Edge("gw", "wait", "x > 1"),
    ]
    return defn(steps, edges, "submit_req", {"done", "wait"})


MERMAID_LINES = [
    "graph TD",
    "    submit_req[START: Submit Req]",
    "    review{{Review}}",
    "    gw{Gw}",
    "    done[END: Done]",
    "    wait([[END: Wait]])",
    "    submit_req --> review",
    "    review --> gw",
    "    gw -->|conditional| done",
    "    gw -->|x  1| wait",
]

STYLE_LINES = [
    "    style submit_req fill:#90EE90,stroke:#006400,stroke-width:2px",
    "    style gw fill:#FFB6C1,stroke:#8B0000,stroke-width:2px",
    "    style review fill:#FFD700,stroke:#FFA500,stroke-width:3px",
]


def test_mermaid__exact_text_for_every_shape_and_edge_label() -> None:
    assert mermaid_definition().to_mermaid().splitlines() == MERMAID_LINES


def test_mermaid__with_state_appends_completed_failed_current_styles_in_order() -> None:
    text = mermaid_definition().to_mermaid_with_state(
        current_step="review", completed_steps=["submit_req"], failed_steps=["gw"]
    )
    assert text.splitlines() == MERMAID_LINES + STYLE_LINES


def test_mermaid__with_state_without_arguments_is_the_plain_graph() -> None:
    definition = mermaid_definition()
    assert definition.to_mermaid_with_state().splitlines() == MERMAID_LINES


def test_mermaid__with_state_hangs_children_from_their_step_with_links() -> None:
    children = [
        GraphChild("review", 'pay "x" (1)', href='/a/1/"><b>', tooltip="Open [1]"),
        GraphChild("review", "pay 2"),
        GraphChild("gone", "pay 3", href="/a/3/"),  # a step the definition no longer has
    ]
    text = mermaid_definition().to_mermaid_with_state(
        current_step="review",
        completed_steps=["submit_req"],
        failed_steps=["gw"],
        children=children,
    )
    assert text.splitlines() == [
        *MERMAID_LINES,
        '    wf_child_1(["pay x 1"])',
        "    review -.-> wf_child_1",
        '    click wf_child_1 href "/a/1/b" "Open 1"',
        '    wf_child_2(["pay 2"])',
        "    review -.-> wf_child_2",
        *STYLE_LINES,
    ]


def test_mermaid__with_state_several_completed_steps() -> None:
    text = mermaid_definition().to_mermaid_with_state(completed_steps=["submit_req", "review"])
    assert text.splitlines()[-2:] == [
        "    style submit_req fill:#90EE90,stroke:#006400,stroke-width:2px",
        "    style review fill:#90EE90,stroke:#006400,stroke-width:2px",
    ]


def test_mermaid__webhook_uses_square_brackets_and_middle_step_has_no_prefix() -> None:
    steps = {"a": Noop(name="a"), "hook_in": WebhookStep(name="hook_in"), "z": Noop(name="z")}
    text = defn(steps, [Edge("a", "hook_in"), Edge("hook_in", "z")], "a", {"z"}).to_mermaid()
    assert "    hook_in[Hook In]" in text.splitlines()


def test_mermaid__string_condition_label_strips_special_characters() -> None:
    steps = machines("a", "b")
    condition = "context.get('amount', 0) >= 1000 | [x] {y} \"q\" < 2"
    text = defn(steps, [Edge("a", "b", condition)], "a", {"b"}).to_mermaid()
    assert text.splitlines()[-1] == "    a -->|context.getamount, 0 = 1000  x y q  2| b"


def test_mermaid__step_that_is_initial_and_terminal_gets_start_prefix() -> None:
    text = defn(machines("only_step"), [], "only_step", {"only_step"}).to_mermaid()
    assert text.splitlines() == ["graph TD", "    only_step[START: Only Step]"]


def test_generate_mermaid_graph__matches_definition_methods() -> None:
    definition = mermaid_definition()
    assert generate_mermaid_graph(definition) == definition.to_mermaid()
    assert generate_mermaid_graph_with_state(
        definition, current_step="gw", completed_steps=["submit_req", "review"], failed_steps=None
    ) == definition.to_mermaid_with_state(
        current_step="gw", completed_steps=["submit_req", "review"]
    )


# ---------------------------------------------------------------- parse_graph_to_dict (scenario 20)


def test_parse_graph_to_dict__nodes_and_edges() -> None:
    steps = {
        "submit_req": Noop(name="submit_req"),
        "review": BaseHumanStep(name="review", title="Review"),
        "gw": ExclusiveGateway(name="gw", condition=lambda ctx: "done"),
        "hook": WebhookStep(name="hook"),
        "done": Noop(name="done"),
        "wait": TimerStep(name="wait", duration=timedelta(0)),
    }
    edges = [
        Edge("submit_req", "review"),
        Edge("review", "gw"),
        Edge("gw", "done", lambda ctx: True),
        Edge("gw", "hook", "x > 1"),
        Edge("hook", "wait"),
    ]
    graph = parse_graph_to_dict(defn(steps, edges, "submit_req", {"done", "wait"}))
    assert graph["nodes"] == [
        {
            "id": "submit_req",
            "label": "Submit Req",
            "type": "machine",
            "is_initial": True,
            "is_terminal": False,
        },
        {
            "id": "review",
            "label": "Review",
            "type": "human",
            "is_initial": False,
            "is_terminal": False,
        },
        {"id": "gw", "label": "Gw", "type": "gateway", "is_initial": False, "is_terminal": False},
        {
            "id": "hook",
            "label": "Hook",
            "type": "webhook",
            "is_initial": False,
            "is_terminal": False,
        },
        {
            "id": "done",
            "label": "Done",
            "type": "machine",
            "is_initial": False,
            "is_terminal": True,
        },
        {"id": "wait", "label": "Wait", "type": "timer", "is_initial": False, "is_terminal": True},
    ]
    assert graph["edges"] == [
        {"source": "submit_req", "target": "review"},
        {"source": "review", "target": "gw"},
        {"source": "gw", "target": "done", "condition": "conditional"},
        {"source": "gw", "target": "hook", "condition": "x > 1"},
        {"source": "hook", "target": "wait"},
    ]
    assert set(graph) == {"nodes", "edges"}
    assert json.loads(json.dumps(graph)) == graph
