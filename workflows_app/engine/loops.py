"""Event loops for step code: one per thread, and a helper loop where it cannot be used.

The step runner (:mod:`.runner`) hands an awaitable that step code returned to
:func:`wait`, which runs it to its end on an event loop owned by the calling thread and
kept for as long as the thread lives: an async step costs one turn of a loop that is
already there, not a new loop and thread. Inside that loop, what asgiref's
thread-sensitive ``sync_to_async`` wraps (Django's async ORM) runs on the calling thread
itself, with its database connection, as it would under ``async_to_sync``. Where the
thread's loop cannot be used (a loop already runs in the thread, or the thread's loop is
blocked further up in a sync call: a step calling the engine), the awaitable runs on a
loop of its own in a helper thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync

__all__ = ["close_connections", "wait"]

T = TypeVar("T")


def close_connections() -> None:
    """Close this thread's database connections (a thread that ends must)."""
    from django.conf import settings
    from django.db import connections

    if settings.configured:
        connections.close_all()


class _ThisThread(concurrent.futures.Executor):
    """Runs what asgiref's thread-sensitive ``sync_to_async`` hands it on the calling thread.

    The calling thread is the one running the per-thread loop, so the call is made at
    once; the loop is marked as not running for its duration, since the function is
    sync code (Django refuses ORM calls from a thread whose event loop is running).
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        running = asyncio._get_running_loop()
        # asgiref notes the loop it came from in a thread-local, for async_to_sync calls
        # made by the sync code; that note must not outlive the call.
        saved = {name: getattr(SyncToAsync.threadlocal, name, _UNSET) for name in _NOTES}
        asyncio._set_running_loop(None)
        if isinstance(running, _ThreadLoop):
            running.blocked += 1
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        finally:
            if isinstance(running, _ThreadLoop):
                running.blocked -= 1
            asyncio._set_running_loop(running)
            for name, value in saved.items():
                if value is _UNSET:
                    if hasattr(SyncToAsync.threadlocal, name):
                        delattr(SyncToAsync.threadlocal, name)
                else:
                    setattr(SyncToAsync.threadlocal, name, value)
        return future


_UNSET = object()
_NOTES = ("main_event_loop", "main_event_loop_pid", "task_context")


class _ThreadLoop(asyncio.SelectorEventLoop):
    """A thread's own loop. While it is blocked in a sync call made on its thread (see
    :class:`_ThisThread`), nothing may be scheduled onto it from that thread: asgiref's
    ``async_to_sync`` then falls back to a loop of its own, as it is written to."""

    blocked = 0

    def call_soon_threadsafe(self, callback: Any, *args: Any, context: Any = None) -> Any:
        if self.blocked and asyncio._get_running_loop() is not self and _owns(self):
            raise RuntimeError("this thread's event loop is blocked in a sync call")
        return super().call_soon_threadsafe(callback, *args, context=context)


def _owns(loop: asyncio.AbstractEventLoop) -> bool:
    holder = getattr(_local, "holder", None)
    return holder is not None and holder.loop is loop


_THIS_THREAD = _ThisThread()


class _LoopHolder:
    """This thread's event loop; closed when the thread ends (its locals are dropped)."""

    def __init__(self) -> None:
        self.loop = _ThreadLoop()

    def __del__(self) -> None:
        if not self.loop.is_closed() and not self.loop.is_running():
            self.loop.close()


_local = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    holder = getattr(_local, "holder", None)
    if holder is None or holder.loop.is_closed():
        holder = _local.holder = _LoopHolder()
    return holder.loop


async def _on_this_thread(awaitable: Awaitable[T]) -> T:
    # Thread-sensitive sync_to_async calls made while awaiting run on this thread.
    AsyncToSync.executors.current = _THIS_THREAD
    return await awaitable


def wait(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` to its end on this thread's event loop and return its result.

    Tasks it leaves behind are cancelled when it ends, as ``asyncio.run`` does. Where
    this thread's loop cannot be used (a loop is running in the thread, or this thread's
    own loop is blocked further up in a sync call: a step calling the engine), the
    awaitable runs on a loop of its own in a helper thread, as ``async_to_sync`` would.
    """
    loop = _thread_loop()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        if not loop.is_running():
            try:
                return loop.run_until_complete(_on_this_thread(awaitable))
            finally:
                _cancel_leftovers(loop)
    return _in_helper_thread(awaitable)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    leftovers = asyncio.all_tasks(loop)
    if leftovers:
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))


def _in_helper_thread(awaitable: Awaitable[T]) -> T:
    async def main() -> T:
        return await awaitable

    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(main())
        except BaseException as exc:
            box["error"] = exc
        finally:
            close_connections()

    thread = threading.Thread(target=target, name="workflows-step-loop", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]
