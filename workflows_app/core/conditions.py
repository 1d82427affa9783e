"""Safe evaluation of string edge conditions.

A condition such as ``"context.get('amount', 0) >= 1000"`` is parsed once,
checked against an allow-list of syntax, names and methods, and evaluated with
simpleeval (never ``eval``). Inside an expression:

- ``context`` is a read-only view of the workflow context (``get``, ``data``,
  ``metadata``, ``has_step_executed``, ``current_step``, ``user_id``,
  ``tenant_id``, ``instance_id``); ``ctx`` is the same view, as upstream's
  examples write it (``ctx.get('approved') == True``);
- ``data`` is the context data (read-only);
- any other bare name is a context data key (``approved``, ``amount >= 1000``);
  a missing key is ``None``;
- the functions ``len min max abs int float str bool round any all sum`` may
  be called, and read-only methods such as ``get``, ``lower`` or
  ``startswith`` on values.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import simpleeval

if TYPE_CHECKING:
    from workflows_app.core.context import WorkflowContext

__all__ = ["ConditionError", "check_condition", "evaluate_condition", "evaluate_names"]

CONTEXT_NAMES = frozenset({"context", "ctx"})
"""The names of the context view in an expression (``ctx``: upstream's spelling)."""

FUNCTIONS: dict[str, Any] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "round": round,
    "any": any,
    "all": all,
    "sum": sum,
}

METHODS = frozenset(
    {
        # mappings and the context view
        "get", "keys", "values", "items", "has_step_executed",
        # strings
        "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith",
        "isdigit", "isalpha", "split", "count", "index",
    }
)  # fmt: skip

_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp,
    ast.Call, ast.Name, ast.Load, ast.Constant, ast.Attribute, ast.Subscript,
    ast.Slice, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.keyword,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
)  # fmt: skip


class ConditionError(ValueError):
    """A condition expression is not allowed."""


@lru_cache(maxsize=1024)
def _parse(expression: str) -> ast.Expression:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"invalid syntax ({exc.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ConditionError(f"{type(node).__name__} is not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ConditionError(f"name '{node.id}' is not allowed")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ConditionError(f"attribute '{node.attr}' is not allowed")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FUNCTIONS:
                continue
            if isinstance(func, ast.Attribute) and func.attr in METHODS:
                continue
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "?")
            raise ConditionError(f"calling '{name}' is not allowed")
    return tree


def check_condition(expression: str) -> None:
    """Raise :class:`ConditionError` if ``expression`` is not an allowed condition."""
    if not isinstance(expression, str) or not expression.strip():
        raise ConditionError("empty expression")
    _parse(expression)


class _ContextView:
    """What a condition sees of the workflow context: reads only."""

    __slots__ = ("_context",)

    def __init__(self, context: WorkflowContext) -> None:
        self._context = context

    def get(self, key: str, default: Any = None) -> Any:
        return self._context.data.get(key, default)

    def has_step_executed(self, step_name: str) -> bool:
        return self._context.has_step_executed(step_name)

    @property
    def data(self) -> MappingProxyType[str, Any]:
        return MappingProxyType(self._context.data)

    @property
    def metadata(self) -> MappingProxyType[str, Any]:
        return MappingProxyType(self._context.metadata)

    @property
    def current_step(self) -> str:
        return self._context.current_step

    @property
    def user_id(self) -> str | None:
        return self._context.user_id

    @property
    def tenant_id(self) -> str | None:
        return self._context.tenant_id

    @property
    def instance_id(self) -> Any:
        return self._context.instance_id


def evaluate_condition(expression: str, context: WorkflowContext) -> bool:
    """Evaluate ``expression`` against ``context`` and return its truth value."""
    tree = _parse(expression)
    view = _ContextView(context)
    data = context.data

    def resolve(node: ast.Name) -> Any:
        if node.id in CONTEXT_NAMES:
            return view
        if node.id == "data":
            return view.data
        return data.get(node.id)

    evaluator = simpleeval.EvalWithCompoundTypes(functions=FUNCTIONS, names=resolve)
    return bool(evaluator.eval(expression, previously_parsed=tree.body))


def evaluate_names(expression: str, names: dict[str, Any]) -> bool:
    """Evaluate ``expression`` with only ``names`` (and the allowed functions) defined,
    and return its truth value; an unknown name raises :class:`ConditionError`."""
    tree = _parse(expression)

    def resolve(node: ast.Name) -> Any:
        if node.id not in names:
            raise ConditionError(f"unknown name '{node.id}'")
        return names[node.id]

    evaluator = simpleeval.EvalWithCompoundTypes(functions=FUNCTIONS, names=resolve)
    return bool(evaluator.eval(expression, previously_parsed=tree.body))
