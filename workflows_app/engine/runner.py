"""The step runner: the one place that calls the user code of steps.

A step's ``execute``, its guard and hooks, the assignment methods of a human
step and its ``validate_submission`` may be plain functions or coroutine
functions, wrapped by decorators, partials or callable objects. The runner
never inspects a function to guess which: it calls it, and if the call
returned an awaitable, it awaits that.

- In the caller's event loop, for the in-memory engine (``arun_step`` and the
  other ``a``-prefixed functions).
- Otherwise on an event loop that belongs to the calling thread and lives as
  long as it (:mod:`.loops`) (``run_step`` and the other plain functions): the persistent
  engine, the worker and the ``_sync`` methods run step code this way. A sync
  step costs no event loop at all; an async step costs one turn of a loop
  that is already there.

Inside that per-thread loop, Django's async ORM (``await Model.objects.acreate()``)
and anything else wrapped with asgiref's thread-sensitive ``sync_to_async``
runs on the calling thread itself, with its database connection, as it would
under ``async_to_sync``.

What a step does is written once, as a *plan*: a generator that yields each
call of user code and receives its result (or has its exception thrown in).
The two drivers, :func:`drive` and :func:`adrive`, perform the calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import dataclasses
import inspect
import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from workflows_app.core import compensation
from workflows_app.core.exceptions import StepTimeoutError, TaskValidationError
from workflows_app.core.groups import StepGroup
from workflows_app.core.steps import BaseHumanStep, BaseStep
from workflows_app.core.types import StepStatus
from workflows_app.engine import loops, semantics
from workflows_app.engine.loops import wait

__all__ = [
    "Call",
    "Outcome",
    "acheck_submission",
    "adrive",
    "arun_compensation",
    "arun_step",
    "call",
    "check_submission",
    "drive",
    "execute_step",
    "run_compensation",
    "run_step",
    "task_fields",
    "wait",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

Outcome = semantics.Outcome


@dataclass(frozen=True)
class Call:
    """One call of user code that a plan asks its driver to make.

    With a ``timeout`` (seconds), the function is called in a thread of its own and an
    awaitable it returns is awaited for what is left of the time; past it, the driver
    raises :class:`~workflows_app.StepTimeoutError` naming ``step_name``.
    """

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    timeout: float | None = None
    step_name: str = ""
    eager: bool = False
    """The function is a default of the library's base classes: a coroutine that never
    suspends, run to its end without an event loop."""


Plan = Generator[Call, Any, T]


# -- the drivers -------------------------------------------------------------------------


def drive(plan: Plan[T]) -> T:
    """Run ``plan`` in this thread; await what its calls return on this thread's loop."""
    send: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = plan.throw(error) if error is not None else plan.send(send)
        except StopIteration as stop:
            return stop.value
        error = None
        try:
            send = _perform(request)
        except Exception as exc:
            send, error = None, exc
        except asyncio.CancelledError as exc:  # nothing outside cancels a sync drive
            send, error = None, RuntimeError(f"the step's coroutine was cancelled {exc}".strip())


async def adrive(plan: Plan[T]) -> T:
    """Run ``plan`` in the running event loop, awaiting what its calls return there."""
    send: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = plan.throw(error) if error is not None else plan.send(send)
        except StopIteration as stop:
            return stop.value
        error = None
        try:
            send = await _aperform(request)
        except Exception as exc:
            send, error = None, exc


def _perform(request: Call) -> Any:
    if request.timeout is not None:
        return _perform_timed(request)
    result = request.function(*request.args, **request.kwargs)
    if request.eager and inspect.iscoroutine(result):
        try:
            result.send(None)
        except StopIteration as stop:
            return stop.value
        result.close()
        raise RuntimeError(f"{request.function!r} suspended: it is not a library default")
    if inspect.isawaitable(result):
        result = wait(result)
    return result


async def _aperform(request: Call) -> Any:
    if request.timeout is not None:
        deadline = time.monotonic() + request.timeout
        started = _call_in_thread(request)
        try:
            result = await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(started)), request.timeout
            )
        except TimeoutError:
            _abandon(started)
            raise StepTimeoutError(request.step_name, request.timeout) from None
        if inspect.isawaitable(result):
            try:
                result = await asyncio.wait_for(result, _left(deadline))
            except TimeoutError:
                raise StepTimeoutError(request.step_name, request.timeout) from None
        return result
    result = request.function(*request.args, **request.kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def _perform_timed(request: Call) -> Any:
    deadline = time.monotonic() + request.timeout  # type: ignore[operator]
    started = _call_in_thread(request)
    try:
        result = started.result(request.timeout)
    except concurrent.futures.TimeoutError:
        _abandon(started)
        raise StepTimeoutError(request.step_name, request.timeout) from None
    if inspect.isawaitable(result):
        try:
            result = wait(asyncio.wait_for(result, _left(deadline)))
        except TimeoutError:
            raise StepTimeoutError(request.step_name, request.timeout) from None
    return result


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _call_in_thread(request: Call) -> concurrent.futures.Future[Any]:
    """Call ``request.function`` in a new daemon thread; return the future of its result.

    A sync function that overruns is left to finish in the background (Python cannot
    stop a thread); the thread closes its database connections when it ends. An async
    function only creates its coroutine there: the driver awaits it, and cancels it at
    the timeout.
    """
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    future.set_running_or_notify_cancel()  # a driver that gives up cannot cancel it
    future.add_done_callback(_close_if_abandoned)

    def target() -> None:
        try:
            future.set_result(request.function(*request.args, **request.kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        finally:
            loops.close_connections()

    threading.Thread(target=target, name=f"step-{request.step_name}", daemon=True).start()
    return future


def _close_if_abandoned(future: concurrent.futures.Future[Any]) -> None:
    """Close a coroutine that arrives after its driver gave up waiting for it (its step
    timed out while the thread was still calling the function), so it is not left
    unawaited. A driver that got it in time has awaited it by then, or is about to."""
    if getattr(future, "abandoned", False) and future.exception() is None:
        result = future.result()
        if inspect.iscoroutine(result):
            result.close()


def _abandon(future: concurrent.futures.Future[Any]) -> None:
    future.abandoned = True  # type: ignore[attr-defined]
    if future.done():
        _close_if_abandoned(future)


def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``function``; if it returned an awaitable, wait for it on this thread's loop."""
    return _perform(Call(function, args, kwargs))


_NO_ITEM: Any = object()

# -- the plans -------------------------------------------------------------------------------


def _overrides(step: Any, method: str, base: type = BaseStep) -> bool:
    """Return True unless ``method`` is the do-nothing default of ``base``."""
    return getattr(type(step), method, None) is not getattr(base, method, None)


def _step_plan(step: Any, context: Any, engine: Any) -> Plan[Outcome]:
    """Guard, execute, hooks. A failure of the step's code is a FAILED outcome, never raised."""
    started_at = semantics.utcnow()
    input_data = copy.deepcopy(context.data)
    try:
        if _overrides(step, "can_execute") and not (yield Call(step.can_execute, (context,))):
            return Outcome(
                StepStatus.SKIPPED, started_at, semantics.utcnow(), input_data=input_data
            )
        if isinstance(step, StepGroup):
            result = yield Call(step.execute, (context, engine))
        elif getattr(step, "timeout", None) is not None:
            # The step works on a copy of the data, so that a step that overran cannot write
            # into the instance after the engine moved on.
            private = dataclasses.replace(context, data=copy.deepcopy(context.data))
            seconds = step.timeout.total_seconds()
            result = yield Call(step.execute, (private,), timeout=seconds, step_name=step.name)
            context.data.clear()
            context.data.update(private.data)
        else:
            result = yield Call(step.execute, (context,))
        if _overrides(step, "on_success"):
            yield Call(step.on_success, (context, result))
    except Exception as exc:
        if _overrides(step, "on_failure"):
            try:
                yield Call(step.on_failure, (context, exc))
            except Exception:
                logger.exception("on_failure of step %r raised", getattr(step, "name", step))
        return Outcome(
            StepStatus.FAILED,
            started_at,
            semantics.utcnow(),
            error=str(exc) or type(exc).__name__,
            exception=exc,
            input_data=input_data,
        )
    return Outcome(
        StepStatus.SUCCEEDED, started_at, semantics.utcnow(), result=result, input_data=input_data
    )


# The getters that receive the task's item, for a multi-instance step.
_ITEM_GETTERS = frozenset({"get_assignee", "get_assignee_group", "get_title", "get_due_date"})


def _takes_item(method: Any) -> bool:
    """Whether the bound ``method`` accepts a second positional argument (the item)."""
    try:
        parameters = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters if p.kind in positional) >= 2


def _task_fields_plan(step: Any, context: Any, item: Any = _NO_ITEM) -> Plan[dict[str, Any]]:
    """The assignment, deadlines and texts of the task a human step creates (for ``item``,
    the task of one item of a multi-instance step)."""

    def get(name: str) -> Call:
        method = getattr(step, name)
        args: tuple[Any, ...] = (context,)
        if item is not _NO_ITEM and name in _ITEM_GETTERS and _takes_item(method):
            args = (context, item)
        return Call(method, args, eager=not _overrides(step, name, BaseHumanStep))

    title = yield get("get_title")
    return {
        "assignee_id": (yield get("get_assignee")),
        "assignee_group": (yield get("get_assignee_group")),
        "title": title or step.name,
        "description": (yield get("get_description")),
        "due_at": (yield get("get_due_date")),
        "reminder_at": (yield get("get_reminder_date")),
        "form_schema": getattr(step, "form_schema", None),
        "priority": getattr(step, "priority", 0),
    }


def _submission_plan(step: Any, data: Any) -> Plan[None]:
    """Raise :class:`TaskValidationError` unless ``data`` suits the human step's form."""
    if not isinstance(data, dict):
        raise TaskValidationError({"": ["The submitted data must be a JSON object."]})
    problems = semantics.form_problems(getattr(step, "form_schema", None), data)
    if _overrides(step, "validate_submission", BaseHumanStep):
        extra = yield Call(step.validate_submission, (data,))
        for path, messages in (extra or {}).items():
            problems.setdefault(path, []).extend(messages)
    if problems:
        raise TaskValidationError(problems)


# -- what the engines call -------------------------------------------------------------------


def run_step(step: Any, context: Any, engine: Any = None) -> Outcome:
    """Run ``step`` against ``context`` (guard, execute, hooks) in this thread."""
    return drive(_step_plan(step, context, engine))


async def arun_step(step: Any, context: Any, engine: Any = None) -> Outcome:
    """Run ``step`` against ``context`` (guard, execute, hooks) in the running loop."""
    return await adrive(_step_plan(step, context, engine))


def run_compensation(step: Any, context: Any, engine: Any = None) -> Outcome:
    """Run the compensation of ``step`` (see :mod:`workflows_app.core.compensation`) against
    ``context``, like a step, in this thread."""
    return drive(_step_plan(compensation.compensating_step(step), context, engine))


async def arun_compensation(step: Any, context: Any, engine: Any = None) -> Outcome:
    """Async twin of :func:`run_compensation`, in the running loop."""
    return await adrive(_step_plan(compensation.compensating_step(step), context, engine))


def task_fields(step: Any, context: Any, item: Any = _NO_ITEM) -> dict[str, Any]:
    """Return the fields of the task that the human ``step`` creates; with ``item``, of
    the task of that item of a multi-instance step (see :mod:`.multi_instance`)."""
    return drive(_task_fields_plan(step, context, item))


def check_submission(step: Any, data: Any) -> None:
    """Raise :class:`~workflows_app.TaskValidationError` unless ``data`` suits ``step``."""
    drive(_submission_plan(step, data))


async def acheck_submission(step: Any, data: Any) -> None:
    """Async twin of :func:`check_submission`."""
    await adrive(_submission_plan(step, data))


async def execute_step(step: Any, context: Any, previous_result: Any, engine: Any) -> Any:
    """Run one step outside any instance (for step groups); return its result or raise."""
    if previous_result is not None:
        context.data["_previous_result"] = previous_result
    outcome = await arun_step(step, context, engine)
    if outcome.status == StepStatus.FAILED:
        assert outcome.exception is not None
        raise outcome.exception
    return outcome.result
