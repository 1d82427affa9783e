"""Subworkflows: a step that runs other workflow instances and waits for them.

A :class:`SubworkflowStep` starts a child instance of another workflow (or one per item
of ``for_each``) when its branch reaches it, and the branch waits until the children
end. The pure rules are here: what a step declares and how it is checked, what each
child is given, and what the parent gets back. The engine's side (starting children in
the commit that parks the branch, resuming the parent in the commit that ends a child,
closing children with their parent) is :mod:`workflows_app.engine.subworkflows`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from workflows_app.core.multi_instance import results_key
from workflows_app.core.steps import BaseStep
from workflows_app.core.types import StepType

if TYPE_CHECKING:
    from workflows_app.core.context import WorkflowContext

__all__ = [
    "ITEM_KEY",
    "PARENT_CLOSE_POLICIES",
    "SubworkflowError",
    "SubworkflowStep",
    "child_failure",
    "child_inputs",
    "join",
    "output_failure",
    "parent_output",
    "results_key",
    "start_failure",
]

PARENT_CLOSE_POLICIES = ("terminate", "request_cancel", "abandon")
"""What happens to children still running when their parent ends (Temporal's names)."""

ITEM_KEY = "item"
"""With ``for_each``: the context key under which each child receives its item."""

Mapping_ = Mapping[str, str] | Callable[[Any], Any] | None


class SubworkflowError(Exception):
    """A child instance failed or was canceled: the parent step's attempt fails with it
    (so the step's ``retry_policy`` decides whether a new child is started)."""


class SubworkflowStep(BaseStep):
    """Run an instance of the workflow ``workflow`` and wait for it to end.

    - ``version``: the definition version the child runs; None (the default) takes the
      latest active version at the moment the step starts.
    - ``input``: what the child starts with: a mapping ``{child_key: parent_key}`` of
      the parent's context data, or a callable ``(context) -> dict``; None passes
      nothing.
    - ``output``: what the parent gets back from the child's final context data: a
      mapping ``{parent_key: child_key}``, or a callable ``(child_data) -> dict``; None
      returns nothing.
    - ``for_each``: a context key, or a callable ``(context) -> list``: one child per
      item, all at once; each child also receives its item under ``"item"``. The step
      completes when every child completed, with the output of each, in item order, in
      ``<step>_results``; a failed child fails the step.
    - ``compensate``: True to undo the step, when the parent is compensated, by
      compensating each child that completed (its own completed steps are undone, and
      it ends ``canceled``); False (the default): nothing to undo.
    - ``on_parent_close``: what happens to children still running when the parent
      instance ends (completes, fails or is canceled): ``"terminate"`` (the default)
      or ``"request_cancel"`` cancel them, ``"abandon"`` leaves them running.
    """

    step_type: ClassVar[StepType] = StepType.SUBWORKFLOW
    workflow: str = ""
    version: str | None = None
    input: Mapping_ = None
    output: Mapping_ = None
    for_each: str | Callable[[Any], Any] | None = None
    on_parent_close: str = "terminate"
    compensate: bool = False

    def __init__(
        self,
        name: str | None = None,
        workflow: str | None = None,
        *,
        description: str | None = None,
        version: str | None = None,
        input: Mapping_ = None,
        output: Mapping_ = None,
        for_each: str | Callable[[Any], Any] | None = None,
        on_parent_close: str | None = None,
        retry_policy: Any = None,
        compensate: bool | None = None,
    ) -> None:
        super().__init__(name, description)
        for attribute, value in (
            ("workflow", workflow),
            ("version", version),
            ("input", input),
            ("output", output),
            ("for_each", for_each),
            ("on_parent_close", on_parent_close),
            ("retry_policy", retry_policy),
            ("compensate", compensate),
        ):
            if value is not None:
                setattr(self, attribute, value)
        self.check()

    def check(self) -> None:
        """Raise ValueError for a declaration that cannot work (the workflow's name can
        only be looked up when the step starts)."""
        where = f"SubworkflowStep {self.name!r}"
        if not isinstance(self.workflow, str) or not self.workflow:
            raise ValueError(f"{where} needs workflow=<the name of a registered workflow>")
        if self.version is not None and not isinstance(self.version, str):
            raise ValueError(f"{where}: version must be a string or None")
        for what in ("input", "output"):
            _check_mapping(where, what, getattr(self, what))
        if self.for_each is not None and not (
            callable(self.for_each) or (isinstance(self.for_each, str) and self.for_each)
        ):
            raise ValueError(f"{where}: for_each must be a context key or a callable")
        if not isinstance(self.compensate, bool):
            raise ValueError(f"{where}: compensate must be True or False")
        if self.on_parent_close not in PARENT_CLOSE_POLICIES:
            allowed = ", ".join(repr(p) for p in PARENT_CLOSE_POLICIES)
            raise ValueError(f"{where}: on_parent_close must be one of {allowed}")

    async def execute(self, context: WorkflowContext) -> Any:
        """Not called: the engine starts the children and waits for them."""
        raise NotImplementedError("a SubworkflowStep is run by the engine")


def _check_mapping(where: str, what: str, value: Any) -> None:
    if value is None or callable(value):
        return
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"{where}: {what} must be a mapping of context keys or a callable")


def _mapped(mapping: Mapping_, source: dict[str, Any], argument: Any, what: str) -> dict[str, Any]:
    if mapping is None:
        return {}
    if callable(mapping):
        found = mapping(argument)
        if found is None:
            return {}
        if not isinstance(found, dict):
            raise TypeError(f"{what} must return a dict, not {type(found).__name__}")
        return dict(found)
    missing = [key for key in mapping.values() if key not in source]
    if missing:
        raise KeyError(f"{what}: no {', '.join(repr(k) for k in missing)} in the context")
    return {target: source[key] for target, key in mapping.items()}


def child_inputs(step: SubworkflowStep, context: WorkflowContext) -> list[dict[str, Any]]:
    """The initial data of each child to start: one without ``for_each``, one per item
    with it (the item under :data:`ITEM_KEY`). Raise for an ``input`` or ``for_each``
    that cannot be had (a missing key, a callable that raised)."""
    base = _mapped(step.input, context.data, context, "input")
    if step.for_each is None:
        return [base]
    items = step.for_each(context) if callable(step.for_each) else context.data[step.for_each]
    if not isinstance(items, list | tuple):
        raise TypeError(f"for_each must give a list, not {type(items).__name__}")
    return [{**base, ITEM_KEY: item} for item in items]


def parent_output(step: SubworkflowStep, child_data: dict[str, Any]) -> dict[str, Any]:
    """What the parent gets back from a child's final context data."""
    return _mapped(step.output, child_data, child_data, "output")


def child_failure(workflow: str, child_id: Any, status: str, error: str | None) -> str:
    """The error of a parent step whose child ``child_id`` (of ``workflow``) ended
    ``status`` (failed or canceled) with ``error``."""
    return f"Subworkflow '{workflow}' ({child_id}) {status}: {error or ''}".rstrip(": ")


def join(
    step: SubworkflowStep, step_name: str, data: dict[str, Any], index: int, output: dict[str, Any]
) -> dict[str, Any] | None:
    """Take a completed child's ``output`` (the child number ``index`` of the step): what
    the parent's step completes with, or None while other children still run. With
    ``for_each`` the output goes into the parent's ``data[<step>_results][index]`` and the
    step completes with ``{<step>_results: [...]}`` once every child completed."""
    if step.for_each is None:
        return output
    key = results_key(step_name)
    results = list(data.get(key) or [])
    if 0 <= index < len(results):
        results[index] = output
    data[key] = results
    if any(result is None for result in results):
        return None
    return {key: results}


def start_failure(step_name: str, exc: Exception) -> str:
    """The error of a step whose children could not be started (unknown workflow or
    version, an ``input``/``for_each`` that raised)."""
    return f"Subworkflow step '{step_name}' failed: {type(exc).__name__}: {exc}"


def output_failure(step_name: str, exc: Exception) -> str:
    """The error of a step whose ``output`` mapping of a completed child raised."""
    return f"Subworkflow step '{step_name}': output failed: {type(exc).__name__}: {exc}"
