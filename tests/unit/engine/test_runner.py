"""The step runner: every shape of step code, sync or async, through both drivers."""

from __future__ import annotations

import asyncio
import functools
import threading
from datetime import timedelta

import pytest

from workflows_app import BaseHumanStep, BaseMachineStep, WorkflowContext
from workflows_app.core.exceptions import TaskValidationError
from workflows_app.engine import runner


def context(**data) -> WorkflowContext:
    return WorkflowContext(
        workflow_id=None,
        instance_id=None,
        data=dict(data),
        metadata={},
        current_step="",
        step_history=[],
        started_at=None,
    )


def decorated(function):
    """An ordinary decorator: a plain ``def`` that returns what the wrapped function returns."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)

    return wrapper


class SyncStep(BaseMachineStep):
    name = "sync"

    def execute(self, context):
        context.set("ran", "sync")
        return "s"


class AsyncStep(BaseMachineStep):
    name = "async"

    async def execute(self, context):
        await asyncio.sleep(0)  # really suspends: needs an event loop
        context.set("ran", "async")
        return "a"


class DecoratedAsyncStep(BaseMachineStep):
    name = "decorated"

    @decorated
    async def execute(self, context):
        await asyncio.sleep(0.001)
        context.set("ran", "decorated")
        return "d"


async def _body(prefix, context):
    await asyncio.sleep(0)
    context.set("ran", prefix)
    return prefix


class PartialStep(BaseMachineStep):
    name = "partial"

    def __init__(self):
        super().__init__()
        self.execute = functools.partial(_body, "partial")


class Awaitable:
    async def __call__(self, context):
        await asyncio.sleep(0)
        context.set("ran", "callable")
        return "c"


class CallableObjectStep(BaseMachineStep):
    name = "callable"
    execute = Awaitable()


STEPS = [SyncStep, AsyncStep, DecoratedAsyncStep, PartialStep, CallableObjectStep]
EXPECTED = {
    "sync": "s",
    "async": "a",
    "decorated": "d",
    "partial": "partial",
    "callable": "c",
}


@pytest.mark.parametrize("step_class", STEPS, ids=lambda c: c.__name__)
def test_run_step__every_shape_of_step_succeeds_in_a_thread_without_a_loop(step_class) -> None:
    step = step_class()
    ctx = context()
    outcome = runner.run_step(step, ctx)
    assert (outcome.status, outcome.error) == ("succeeded", None)
    assert outcome.result == EXPECTED[step.name]
    assert ctx.get("ran") == step.name
    assert outcome.input_data == {}


@pytest.mark.parametrize("step_class", STEPS, ids=lambda c: c.__name__)
async def test_arun_step__every_shape_of_step_succeeds_in_the_running_loop(step_class) -> None:
    step = step_class()
    ctx = context()
    outcome = await runner.arun_step(step, ctx)
    assert (outcome.status, outcome.result) == ("succeeded", EXPECTED[step.name])


def test_run_step__guards_and_hooks_may_be_async() -> None:
    seen = []

    class Guarded(BaseMachineStep):
        name = "guarded"

        async def can_execute(self, context):
            await asyncio.sleep(0)
            return context.get("go", False)

        async def execute(self, context):
            raise ValueError("boom")

        async def on_failure(self, context, error):
            await asyncio.sleep(0)
            seen.append(str(error))

    assert runner.run_step(Guarded(), context()).status == "skipped"
    outcome = runner.run_step(Guarded(), context(go=True))
    assert (outcome.status, outcome.error, seen) == ("failed", "boom", ["boom"])
    assert isinstance(outcome.exception, ValueError)


def test_run_step__in_a_thread_whose_loop_is_running_runs_on_a_helper_loop() -> None:
    """A loop already running in the thread (a notebook, Playwright's sync API): the step's
    coroutine runs on a loop of its own in a helper thread."""

    async def inside_a_loop():
        return runner.run_step(AsyncStep(), context())

    outcome = asyncio.run(inside_a_loop())
    assert (outcome.status, outcome.result) == ("succeeded", "a")


def test_run_step__a_cancelled_await_in_step_code_fails_the_step() -> None:
    class Cancelled(BaseMachineStep):
        name = "cancelled"

        async def execute(self, context):
            task = asyncio.ensure_future(asyncio.sleep(10))
            task.cancel()
            await task

    outcome = runner.run_step(Cancelled(), context())
    assert outcome.status == "failed"
    assert "cancelled" in outcome.error


def test_wait__a_step_may_call_code_that_waits_again_through_sync_to_async() -> None:
    """An async step -> sync_to_async(f) -> f uses the runner again (a step that calls the
    engine): the inner coroutine runs on a helper loop instead of the blocked one."""
    from asgiref.sync import sync_to_async

    async def inner():
        await asyncio.sleep(0)
        return "inner"

    def sync_part():
        return runner.wait(inner())

    async def outer():
        return await sync_to_async(sync_part)()

    assert runner.wait(outer()) == "inner"


def test_wait__async_to_sync_after_an_async_orm_style_call_does_not_hang() -> None:
    """asgiref notes the loop a thread-sensitive call came from; after the step, sync code
    on this thread (a signal with an async receiver, say) must not schedule onto it."""
    from asgiref.sync import async_to_sync, sync_to_async

    async def step():
        return await sync_to_async(lambda: "orm")()

    async def receiver():
        return "heard"

    assert runner.wait(step()) == "orm"
    assert async_to_sync(receiver)() == "heard"  # on this thread: the note is this thread's


def test_wait__nested_async_to_sync_inside_a_thread_sensitive_call_does_not_deadlock() -> None:
    from asgiref.sync import async_to_sync, sync_to_async

    async def receiver():
        return "heard"

    async def step():
        return await sync_to_async(lambda: async_to_sync(receiver)())()

    assert runner.wait(step()) == "heard"


def test_wait__tasks_a_step_leaves_behind_are_cancelled() -> None:
    started, left = [], []

    async def fire_and_forget():
        started.append(True)
        await asyncio.sleep(10)

    async def step():
        left.append(asyncio.ensure_future(fire_and_forget()))
        await asyncio.sleep(0)

    runner.wait(step())
    assert started == [True] and left[0].cancelled()
    loop = runner.wait(_running_loop())
    assert not [t for t in asyncio.all_tasks(loop) if not t.done()]


async def _running_loop():
    return asyncio.get_running_loop()


def test_run_step__a_sync_step_over_its_timeout_fails_and_cannot_write_into_the_context() -> None:
    release = threading.Event()

    class Slow(BaseMachineStep):
        name = "slow"
        timeout = timedelta(milliseconds=30)

        def execute(self, context):
            release.wait(5)
            context.set("late", True)

    ctx = context(a=1)
    outcome = runner.run_step(Slow(), ctx)
    release.set()
    assert (outcome.status, outcome.error) == ("failed", "Step 'slow' timed out after 0.03 s")
    assert ctx.data == {"a": 1}


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_run_step__a_decorated_async_step_over_its_timeout_is_cancelled(driver) -> None:
    cancelled = threading.Event()

    class Hang(BaseMachineStep):
        name = "hang"
        timeout = timedelta(milliseconds=300)

        @decorated
        async def execute(self, context):
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.set()
                raise

    if driver == "sync":
        outcome = runner.run_step(Hang(), context())
    else:
        outcome = asyncio.run(runner.arun_step(Hang(), context()))
    assert (outcome.status, outcome.error) == ("failed", "Step 'hang' timed out after 0.3 s")
    assert cancelled.is_set()


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_run_step__a_sync_step_that_finishes_after_its_timeout_ends_quietly(driver) -> None:
    """Its thread sets the result of a future that nobody waits for any more: no error
    (an unhandled exception in a thread fails the test)."""
    release = threading.Event()

    class Late(BaseMachineStep):
        name = "late"
        timeout = timedelta(milliseconds=20)

        def execute(self, context):
            release.wait(5)

    if driver == "sync":
        outcome = runner.run_step(Late(), context())
    else:
        outcome = asyncio.run(runner.arun_step(Late(), context()))
    assert outcome.error == "Step 'late' timed out after 0.02 s"
    [thread] = [t for t in threading.enumerate() if t.name == "step-late"]
    release.set()
    thread.join(5)


def test_run_step__a_coroutine_made_after_the_timeout_is_closed_not_left_unawaited() -> None:
    """The step's thread was still calling ``execute`` (a slow decorator) when the time
    ran out: the coroutine it returns later is closed (an unawaited one would warn)."""
    release = threading.Event()

    def slow_decorator(method):
        @functools.wraps(method)
        def wrapper(self, context):
            release.wait(5)
            return method(self, context)

        return wrapper

    class SlowToStart(BaseMachineStep):
        name = "slow_to_start"
        timeout = timedelta(milliseconds=20)

        @slow_decorator
        async def execute(self, context):
            context.set("ran", True)

    ctx = context()
    outcome = runner.run_step(SlowToStart(), ctx)
    assert outcome.error == "Step 'slow_to_start' timed out after 0.02 s"
    [thread] = [t for t in threading.enumerate() if t.name == "step-slow_to_start"]
    release.set()
    thread.join(5)
    import gc

    gc.collect()  # an unawaited coroutine would warn here, and warnings are errors
    assert ctx.data == {}


def test_run_step__a_timed_step_within_its_time_keeps_its_changes() -> None:
    class Quick(BaseMachineStep):
        name = "quick"
        timeout = timedelta(seconds=5)

        async def execute(self, context):
            context.set("done", True)
            return 1

    ctx = context()
    outcome = runner.run_step(Quick(), ctx)
    assert (outcome.status, outcome.result, ctx.data) == ("succeeded", 1, {"done": True})


def test_task_fields__assignment_methods_may_be_async_or_decorated() -> None:
    class Review(BaseHumanStep):
        name = "review"

        async def get_assignee(self, context):
            await asyncio.sleep(0)
            return context.get("who")

        @decorated
        async def get_title(self, context):
            return f"Review for {context.get('who')}"

    fields = runner.task_fields(Review(), context(who="ann"))
    assert (fields["assignee_id"], fields["title"]) == ("ann", "Review for ann")
    assert fields["assignee_group"] is None


def test_check_submission__async_validation_is_merged_with_the_schema_errors() -> None:
    class Approve(BaseHumanStep):
        name = "approve"
        form_schema = {
            "type": "object",
            "properties": {"approved": {"type": "boolean"}},
            "required": ["approved"],
        }

        @decorated
        async def validate_submission(self, data):
            await asyncio.sleep(0)
            return {"comment": ["Say why."]} if "comment" not in data else {}

    with pytest.raises(TaskValidationError) as caught:
        runner.check_submission(Approve(), {})
    assert caught.value.field_errors == {
        "approved": ["This field is required."],
        "comment": ["Say why."],
    }
    runner.check_submission(Approve(), {"approved": True, "comment": "fine"})


def test_wait__one_loop_per_thread_reused_and_closed_when_the_thread_ends() -> None:
    async def loop_of_this_call():
        return asyncio.get_running_loop()

    first = runner.wait(loop_of_this_call())
    assert runner.wait(loop_of_this_call()) is first
    seen = {}

    def other_thread():
        seen["loop"] = runner.wait(loop_of_this_call())

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen["loop"] is not first
    assert seen["loop"].is_closed()
    assert not first.is_closed()


def test_wait__thread_sensitive_sync_to_async_runs_on_the_calling_thread() -> None:
    """As under async_to_sync: what Django's async ORM wraps runs on the engine's thread, with
    its database connection, and without the running loop that Django refuses."""
    from asgiref.sync import sync_to_async

    def where():
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return threading.get_ident(), "no loop"
        return threading.get_ident(), "loop running"

    assert runner.wait(sync_to_async(where)()) == (threading.get_ident(), "no loop")
