"""String edge conditions: evaluated safely, validated up front, never run through eval()."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflows_app import (
    BaseMachineStep,
    Edge,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowValidationError,
)
from workflows_app.core.conditions import ConditionError


class Noop(BaseMachineStep):
    async def execute(self, context):
        return None


def evaluate(kit, expression: str, data: dict | None = None) -> bool:
    return Edge("check", "big_order", expression).evaluate_condition(kit.context(data or {}))


def two_step_definition(expression: str, name: str = "conds") -> WorkflowDefinition:
    return WorkflowDefinition(
        name=name,
        version="1.0.0",
        description="d",
        steps={"check": Noop(name="check"), "big_order": Noop(name="big_order")},
        edges=[Edge("check", "big_order", expression)],
        initial_step="check",
        terminal_steps={"big_order"},
    )


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        ("context.get('amount', 0) >= 1000", {"amount": 1000}, True),
        ("context.get('amount', 0) >= 1000", {"amount": 999.5}, False),
        ("context.get('amount', 0) >= 1000", {}, False),
        ("context.get('amount', 0) < 1000", {}, True),
        ("approved", {"approved": True}, True),
        ("approved", {"approved": False}, False),
        ("approved", {}, False),
        ("not approved", {"approved": False}, True),
        ("not approved", {}, True),
        ("amount >= 1000", {"amount": 5000}, True),
        ("amount >= 1000 and region == 'eu'", {"amount": 5000, "region": "us"}, False),
        ("missing_key is None", {}, True),
        ("data['amount'] > 10", {"amount": 11}, True),
        ("'vip' in data", {"vip": 1}, True),
        ("'vip' in data", {}, False),
        ("status in ('new', 'open')", {"status": "open"}, True),
        ("items[0]['qty'] == 2", {"items": [{"qty": 2}]}, True),
        # ``ctx``: upstream's name for the context in its tests and examples.
        ("ctx.get('approved') == True", {"approved": True}, True),
        ("ctx.get('approved') == True", {"approved": False}, False),
        ("ctx.get('approved') == True", {}, False),
        ("ctx.get('amount', 0) >= 1000 and context.get('amount') < 2000", {"amount": 1500}, True),
        ("ctx.data['amount'] == 7", {"amount": 7}, True),
        ("ctx.has_step_executed('review')", {}, False),
        # A data key named like the view is read through ``data``.
        ("ctx.get('ctx') == 1 and data['ctx'] == 1", {"ctx": 1}, True),
    ],
)
def test_condition__string_expression_is_evaluated(kit, expression, data, expected) -> None:
    assert evaluate(kit, expression, data) is expected


@pytest.mark.parametrize(
    "expression",
    [
        "len(items) == 3",
        "min(a, b) == 1",
        "max(a, b) == 2",
        "abs(neg) == 5",
        "int('7') == 7",
        "float('1.5') == 1.5",
        "str(a) == '1'",
        "bool(a) is True",
        "round(2.6) == 3",
        "any(flags)",
        "not all(flags)",
        "sum(items) == 6",
    ],
)
def test_condition__allowed_functions(kit, expression) -> None:
    data = {"items": [1, 2, 3], "a": 1, "b": 2, "neg": -5, "flags": [False, True]}
    assert evaluate(kit, expression, data) is True


def test_condition__truthiness_of_non_boolean_result_is_a_bool(kit) -> None:
    assert evaluate(kit, "amount", {"amount": 3}) is True
    assert evaluate(kit, "amount", {"amount": 0}) is False


HOSTILE = [
    "open('x')",
    "__import__('os')",
    "__import__('os').system('true')",
    "context.__class__",
    "context._x",
    "ctx.__class__",
    "ctx._context",
    "ctx.set('a', 1)",
    "context.data.__class__.__subclasses__()",
    "context.set('a', 1)",
    "eval('1')",
    "getattr(context, 'set')('a', 1)",
    "amount >=",
    "approved )",
]


@pytest.mark.parametrize("expression", HOSTILE)
def test_condition__bad_expression_is_reported_by_validate(expression) -> None:
    errors = two_step_definition(expression).validate()
    assert len(errors) == 1, errors
    message = errors[0]
    assert expression in message
    assert "Edge 0" in message or ("check" in message and "big_order" in message)


@pytest.mark.parametrize("expression", HOSTILE)
def test_condition__bad_expression_makes_register_definition_fail(expression) -> None:
    registry = WorkflowRegistry()
    with pytest.raises(WorkflowValidationError) as excinfo:
        registry.register_definition(two_step_definition(expression))
    assert any(expression in error for error in excinfo.value.errors)
    assert not registry.has_workflow("conds")


@pytest.mark.parametrize("expression", ["open('x')", "amount >=", "context.set('a', 1)"])
def test_condition__bad_expression_makes_register_fail(expression) -> None:
    definition = two_step_definition(expression)

    class Upstream:
        @classmethod
        def get_definition(cls):
            return definition

    registry = WorkflowRegistry()
    with pytest.raises(WorkflowValidationError):
        registry.register(Upstream)
    assert not registry.has_workflow("conds")


def test_condition__good_expression_registers(kit) -> None:
    registry = WorkflowRegistry()
    registry.register_definition(
        two_step_definition("context.get('amount', 0) >= 1000 and not approved")
    )
    assert registry.has_workflow("conds")


def test_condition__validate_reports_every_bad_edge_and_ignores_callables() -> None:
    definition = WorkflowDefinition(
        name="many",
        version="1.0.0",
        description="d",
        steps={name: Noop(name=name) for name in ("a", "b", "c", "d")},
        edges=[
            Edge("a", "b", "open('x')"),
            Edge("a", "c", lambda ctx: True),
            Edge("a", "d", "amount >"),
            Edge("b", "d", "amount > 1"),
        ],
        initial_step="a",
        terminal_steps={"c", "d"},
    )
    errors = definition.validate()
    assert len(errors) == 2, errors
    assert "open('x')" in errors[0]
    assert "amount >" in errors[1]


def test_condition__evaluating_hostile_expression_has_no_side_effects(kit, tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    ctx = kit.context({"n": 1})
    expressions = [
        "context.set('pwned', 1)",
        f"open({str(target)!r}, 'w')",
        f"__import__('pathlib').Path({str(target)!r}).touch()",
        "context.data.update({'pwned': 1})",
        "data.update({'pwned': 1})",
        "data.clear()",
    ]
    for expression in expressions:
        try:
            result = Edge("a", "b", expression).evaluate_condition(ctx)
        except Exception:
            result = None
        assert not result, expression
    assert ctx.data == {"n": 1}
    assert not target.exists()


def test_condition__evaluation_does_not_mutate_context_through_get(kit) -> None:
    ctx = kit.context({"amount": 5})
    assert (
        Edge("a", "b", "context.get('amount') == 5 and data['amount'] == 5").evaluate_condition(ctx)
        is True
    )
    assert ctx.data == {"amount": 5}


def test_condition__ctx_and_context_are_one_read_only_view(kit) -> None:
    ctx = kit.context({"amount": 5}, current_step="check")
    for name in ("ctx", "context"):
        assert Edge("a", "b", f"{name}.current_step == 'check'").evaluate_condition(ctx) is True
        with pytest.raises(ConditionError, match="calling 'update' is not allowed"):
            Edge("a", "b", f"{name}.data.update({{'amount': 6}})").evaluate_condition(ctx)
    assert ctx.data == {"amount": 5}


async def test_condition__upstream_approval_written_with_ctx_routes_the_decision(
    engine, kit
) -> None:
    """The approval of upstream's README and tests, its conditions copied as written."""
    approved, rejected = kit.marker("approved"), kit.marker("rejected")
    wf = kit.workflow(
        [kit.human("review"), approved, rejected],
        [
            Edge("review", "approved", "ctx.get('approved') == True"),
            Edge("review", "rejected", "ctx.get('approved') == False"),
        ],
        terminal={"approved", "rejected"},
    )
    yes = await engine.start_workflow(wf, {"amount": 10})
    no = await engine.start_workflow(wf, {"amount": 20})
    await engine.complete_human_task(yes.id, "review", "u1", {"approved": True})
    await engine.complete_human_task(no.id, "review", "u1", {"approved": False})
    yes, no = await engine.get_instance(yes.id), await engine.get_instance(no.id)
    assert (yes.status, kit.names(yes)) == ("completed", ["review", "approved"])
    assert (no.status, kit.names(no)) == ("completed", ["review", "rejected"])
    assert (approved.calls, rejected.calls) == (1, 1)
