"""One synchronous way to drive every engine, so that each scenario is written once.

A *harness* wraps one engine in one mode:

- ``local``: :class:`~workflows_app.LocalExecutionEngine`, through its documented async API,
  on an event loop of its own (a thread), so that an instance whose engine sleeps for a
  timer or a retry can be looked at meanwhile, as another coroutine of the application would.
- ``inline``: :class:`~workflows_app.engine.persistent.PersistentExecutionEngine` in its
  default mode: the caller's thread runs machine steps; a worker fires timers and retries.
- ``worker``: the same engine with ``EXECUTION_MODE="worker"``: calls only commit, and a
  real :class:`~workflows_app.engine.worker.Worker`, in a thread of its own with its own
  engine object and database connection, runs the steps.

Every call returns once the instance has *settled*: nothing more happens until someone acts
or time passes (:meth:`advance`). Time comes from :class:`Clock`, which moves only when told.
"""

from __future__ import annotations

import asyncio
import copy
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections

from tests.integration.helpers import snapshot
from workflows_app import LocalExecutionEngine, WorkflowRegistry
from workflows_app.core.types import TaskStatus
from workflows_app.engine import local as local_module
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.engine.worker import Worker
from workflows_app.models import (
    HumanTaskModel,
    MessageModel,
    MessageSubscriptionModel,
    WorkflowInstanceModel,
)

# How long a harness waits for an engine to settle before the test fails.
SETTLE_TIMEOUT = 30.0
# How many instance runs one worker burst may make before the test fails (a runaway).
MAX_BURST = 1000


class Clock:
    """The engines' clock (``workflows_app.core.clock.utcnow``): real time plus an offset
    that only :meth:`advance` changes, so that timestamps still increase between steps."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Entry:
    """One entry of an instance's step history."""

    step: str
    status: str
    result: Any
    output: Any
    error: str | None
    attempt: int
    started_at: datetime | None
    completed_at: datetime | None
    kind: str = "step"


@dataclass(frozen=True)
class Snapshot:
    """What a user sees of an instance: ``get_instance`` copied at one moment."""

    id: Any
    workflow_name: str
    workflow_version: str
    status: str
    current_step: str | None
    error: str | None
    data: dict[str, Any]
    metadata: dict[str, Any]
    user_id: str | None
    tenant_id: str | None
    started_at: datetime | None
    completed_at: datetime | None
    history: tuple[Entry, ...]

    @classmethod
    def of(cls, instance: Any) -> Snapshot:
        context = instance.context
        return cls(
            id=instance.id,
            workflow_name=instance.workflow_name,
            workflow_version=instance.workflow_version,
            status=str(instance.status),
            current_step=instance.current_step,
            error=instance.error,
            data=copy.deepcopy(context.data),
            metadata=copy.deepcopy(context.metadata),
            user_id=context.user_id,
            tenant_id=context.tenant_id,
            started_at=instance.started_at,
            completed_at=instance.completed_at,
            history=tuple(
                Entry(
                    step=e.step_name,
                    status=str(e.status),
                    result=copy.deepcopy(e.result),
                    output=copy.deepcopy(e.output_data),
                    error=e.error,
                    attempt=e.attempt,
                    started_at=e.started_at,
                    completed_at=e.completed_at,
                    kind=e.kind,
                )
                for e in context.step_history
            ),
        )

    @property
    def names(self) -> list[str]:
        """The step names of the history, in order."""
        return [e.step for e in self.history]

    @property
    def trail(self) -> list[tuple[str, str]]:
        """``(step, status)`` of each history entry, in order."""
        return [(e.step, e.status) for e in self.history]

    def entries(self, step: str) -> list[Entry]:
        """The history entries of ``step``, in order."""
        return [e for e in self.history if e.step == step]


class Harness:
    """The interface the scenarios use; see the module docstring."""

    name: str
    has_tasks: bool
    """Whether the engine keeps human tasks (rows a person's inbox lists)."""

    def __init__(self, clock: Clock, bus: Any) -> None:
        self.clock = clock
        self.bus = bus
        self.registry = WorkflowRegistry()

    def start(self, workflow: Any, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Start ``workflow`` (a class or a registered name); return the instance id."""
        raise NotImplementedError

    def complete(self, instance_id: Any, step: str, user: str, data: Any) -> None:
        """Complete the human step ``step`` as ``user`` with ``data``."""
        raise NotImplementedError

    def webhook(self, token: Any, payload: Any) -> None:
        """Call back the webhook step waiting for ``token``."""
        raise NotImplementedError

    def publish(self, name: str, key: Any, payload: Any, **kwargs: Any) -> Any:
        """Publish a message; return the result (see docs/messages.rst)."""
        raise NotImplementedError

    def suspend(self, instance_id: Any, reason: str, by: str | None = None) -> None:
        """Suspend the instance (docs/suspension.rst)."""
        raise NotImplementedError

    def resume(self, instance_id: Any, by: str | None = None) -> None:
        raise NotImplementedError

    def send_back(
        self, instance_id: Any, step: str, to_step: str, reason: str, by: str | None = None
    ) -> None:
        """Send the instance waiting at the human step ``step`` back to ``to_step``
        (docs/rework.rst)."""
        raise NotImplementedError

    def withdraw(self, instance_id: Any, by: str) -> None:
        raise NotImplementedError

    def cancel(self, instance_id: Any, reason: str, compensate: bool = False) -> None:
        raise NotImplementedError

    def retry(self, instance_id: Any, from_step: str | None = None) -> None:
        raise NotImplementedError

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: timers and retries that fall due fire."""
        raise NotImplementedError

    def get(self, instance_id: Any) -> Snapshot:
        raise NotImplementedError

    def children(self, instance_id: Any) -> list[Snapshot]:
        """The child instances a subworkflow step of ``instance_id`` started, oldest first
        (children started together: in item order)."""
        raise NotImplementedError

    def tasks(self, instance_id: Any) -> list[dict[str, Any]]:
        """The instance's human tasks, oldest first (engines with ``has_tasks`` only)."""
        raise NotImplementedError(f"the {self.name} engine keeps no tasks")

    def use_event_bus(self, bus: Any) -> None:
        """Send the engine's events to ``bus`` from now on."""
        raise NotImplementedError

    def fingerprint(self) -> Any:
        """Everything the engine holds, and the events sent: equal before and after a call
        that must change nothing."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the harness holds (threads, loops, connections)."""


# -- the in-memory engine ---------------------------------------------------------------


class _AsyncioWithHarnessSleep:
    """``asyncio`` as the in-memory engine's module sees it: its sleeps (timers, retry
    back-off) end when the harness clock reaches them, not when real time does."""

    def __init__(self, sleep: Callable[..., Coroutine[Any, Any, Any]]) -> None:
        self.sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


class LocalHarness(Harness):
    name = "local"
    has_tasks = False

    def __init__(self, clock: Clock, bus: Any, monkeypatch: Any) -> None:
        super().__init__(clock, bus)
        self.engine = LocalExecutionEngine(self.registry, event_bus=bus)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="contract-local-loop", daemon=True
        )
        self._thread.start()
        self._ops: list[asyncio.Task[Any]] = []
        self._reported: set[int] = set()
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []
        assert local_module.asyncio is asyncio, (
            "the in-memory engine no longer sleeps through asyncio"
        )
        monkeypatch.setattr(local_module, "asyncio", _AsyncioWithHarnessSleep(self._sleep))

    # The engine's sleep, on the harness loop.
    async def _sleep(self, delay: float, result: Any = None) -> Any:
        if delay <= 0:
            await asyncio.sleep(0)
            return result
        entry = (self.clock() + timedelta(seconds=delay), self._loop.create_future())
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)
        return result

    def _on_loop(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(SETTLE_TIMEOUT)

    async def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._ops.append(task)
        return task

    async def _poll(self) -> bool:
        """Whether every call in flight is asleep until a later time."""
        for _ in range(3):
            await asyncio.sleep(0)
        busy = sum(1 for op in self._ops if not op.done())
        asleep = sum(1 for _, waiter in self._sleepers if not waiter.done())
        return busy <= asleep

    def _settle(self) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while not self._on_loop(self._poll()):
            if time.monotonic() > deadline:
                raise AssertionError("the in-memory engine did not settle")
            time.sleep(0.0005)
        # A call that ended since (an instance woken by advance) must not hide its error.
        for op in self._ops:
            if op.done() and id(op) not in self._reported:
                self._reported.add(id(op))
                if not op.cancelled() and op.exception() is not None:
                    raise op.exception()  # type: ignore[misc]

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run an engine call; return its result, or None if it is asleep in a timer."""
        op = self._on_loop(self._spawn(coroutine))
        self._settle()
        return op.result() if op.done() else None

    def start(self, workflow: Any, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        known = {i.id for i in self.engine.get_all_instances()}
        instance = self._call(self.engine.start_workflow(workflow, data, **kwargs))
        if instance is not None:
            return instance.id
        # Asleep in a timer or a retry back-off: the new instance is the one it made (not
        # one of the children a subworkflow step of it made).
        made = [i for i in self.engine.get_all_instances() if i.id not in known]
        [new] = [i.id for i in made if "parent" not in i.context.metadata]
        return new

    def complete(self, instance_id: Any, step: str, user: str, data: Any) -> None:
        self._call(self.engine.complete_human_task(instance_id, step, user, data))

    def webhook(self, token: Any, payload: Any) -> None:
        self._call(self.engine.complete_webhook(token, payload))

    def cancel(self, instance_id: Any, reason: str, compensate: bool = False) -> None:
        if compensate:
            self._call(self.engine.cancel_workflow(instance_id, reason, compensate=True))
        else:
            self._call(self.engine.cancel_workflow(instance_id, reason))

    def publish(self, name: str, key: Any, payload: Any, **kwargs: Any) -> Any:
        return self._call(self.engine.publish_message(name, key, payload, **kwargs))

    def suspend(self, instance_id: Any, reason: str, by: str | None = None) -> None:
        self._call(self.engine.suspend(instance_id, reason, by))

    def resume(self, instance_id: Any, by: str | None = None) -> None:
        self._call(self.engine.resume(instance_id, by))

    def send_back(
        self, instance_id: Any, step: str, to_step: str, reason: str, by: str | None = None
    ) -> None:
        self._call(self.engine.send_back(instance_id, step, to_step, reason, by))

    def withdraw(self, instance_id: Any, by: str) -> None:
        self._call(self.engine.withdraw(instance_id, by))

    def retry(self, instance_id: Any, from_step: str | None = None) -> None:
        self._call(self.engine.retry(instance_id, from_step))

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

        async def wake() -> None:
            now = self.clock()
            for due, waiter in list(self._sleepers):
                if due <= now and not waiter.done():
                    waiter.set_result(None)

        self._on_loop(wake())
        self._settle()

    def get(self, instance_id: Any) -> Snapshot:
        async def read() -> Snapshot:
            return Snapshot.of(await self.engine.get_instance(instance_id))

        return self._on_loop(read())

    def children(self, instance_id: Any) -> list[Snapshot]:
        async def read() -> list[Snapshot]:
            return [
                Snapshot.of(i)
                for i in self.engine.get_all_instances()
                if (i.context.metadata.get("parent") or {}).get("instance_id") == str(instance_id)
            ]

        return _in_order(self._on_loop(read()))

    def use_event_bus(self, bus: Any) -> None:
        self.bus = self.engine.event_bus = bus

    def fingerprint(self) -> Any:
        async def read() -> Any:
            instances = sorted(self.engine.get_all_instances(), key=lambda i: str(i.id))
            messages = (self.engine.waiting_subscriptions(), self.engine.buffered_messages())
            return [copy.deepcopy(i) for i in instances], messages, len(self.bus.events)

        return self._on_loop(read())

    def close(self) -> None:
        async def stop() -> None:
            pending = [op for op in self._ops if not op.done()]
            for op in pending:
                op.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        try:
            self._on_loop(stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(SETTLE_TIMEOUT)
            self._loop.close()


# -- the persistent engine ------------------------------------------------------------------


class PersistentHarness(Harness):
    """The persistent engine, inline (``worker_mode=False``) or in worker mode.

    The worker mode needs ``EXECUTION_MODE="worker"`` in the settings for the whole test
    (the fixture sets it); the worker has an engine of its own, on the same registry, as a
    worker process would.
    """

    has_tasks = True

    def __init__(self, clock: Clock, bus: Any, *, worker_mode: bool) -> None:
        super().__init__(clock, bus)
        self.worker_mode = worker_mode
        self.name = "worker" if worker_mode else "inline"
        self.engine = PersistentExecutionEngine(self.registry, event_bus=bus)
        self.worker_engine = PersistentExecutionEngine(self.registry, event_bus=bus)
        self._thread: _WorkerThread | None = None

    def _burst(self) -> None:
        """Run what is due, as a burst worker does, without its extras: ``run_once`` claims
        the instance due first and drives it, until nothing is due. (``Worker.run`` would
        also send task reminders and renew leases from a heartbeat thread; neither is part
        of the contract, and both cost a few queries and a thread on every call.) An error
        out of the worker fails the test instead of being logged."""
        worker = Worker(self.worker_engine, worker_id=f"contract-{self.name}", burst=True)
        for _ in range(MAX_BURST):
            if not worker.run_once():
                return
        raise AssertionError(f"the worker still finds work after {MAX_BURST} runs")

    def _work(self) -> None:
        """Let a worker run what is due: in this thread in inline mode (where a worker only
        fires timers and retries), in the worker thread in worker mode."""
        if not self.worker_mode:
            self._burst()
            return
        if self._thread is None:
            self._thread = _WorkerThread(self._burst)
        self._thread.run_burst()

    def _settle(self) -> None:
        if self.worker_mode:
            self._work()

    def start(self, workflow: Any, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        instance = self.engine.start_workflow_sync(workflow, data, **kwargs)
        self._settle()
        return instance.id

    def complete(self, instance_id: Any, step: str, user: str, data: Any) -> None:
        self.engine.complete_human_task_sync(instance_id, step, user, data)
        self._settle()

    def webhook(self, token: Any, payload: Any) -> None:
        self.engine.complete_webhook_sync(token, payload)
        self._settle()

    def publish(self, name: str, key: Any, payload: Any, **kwargs: Any) -> Any:
        result = self.engine.publish_message_sync(name, key, payload, **kwargs)
        self._settle()
        return result

    def cancel(self, instance_id: Any, reason: str, compensate: bool = False) -> None:
        if compensate:
            self.engine.cancel_workflow_sync(instance_id, reason, compensate=True)
        else:
            self.engine.cancel_workflow_sync(instance_id, reason)
        self._settle()

    def suspend(self, instance_id: Any, reason: str, by: str | None = None) -> None:
        self.engine.suspend_sync(instance_id, reason, by)
        self._settle()

    def resume(self, instance_id: Any, by: str | None = None) -> None:
        self.engine.resume_sync(instance_id, by)
        self._settle()

    def send_back(
        self, instance_id: Any, step: str, to_step: str, reason: str, by: str | None = None
    ) -> None:
        """The persistent engine sends back a task: the open task of ``step`` (pending, or
        on hold while the instance is suspended)."""
        task = (
            HumanTaskModel.objects.filter(
                instance_id=instance_id,
                step_name=step,
                status__in=(TaskStatus.PENDING, TaskStatus.ON_HOLD),
            )
            .order_by("-created_at")
            .first()
        )
        if task is None:
            raise AssertionError(f"no open task of step {step!r}")
        self.engine.send_back_sync(task.pk, to_step, reason, by)
        self._settle()

    def withdraw(self, instance_id: Any, by: str) -> None:
        self.engine.withdraw_sync(instance_id, by)
        self._settle()

    def retry(self, instance_id: Any, from_step: str | None = None) -> None:
        self.engine.retry_sync(instance_id, from_step)
        self._settle()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self._work()

    def get(self, instance_id: Any) -> Snapshot:
        return Snapshot.of(self.engine.get_instance_sync(instance_id))

    def children(self, instance_id: Any) -> list[Snapshot]:
        ids = WorkflowInstanceModel.objects.filter(parent_id=instance_id).values_list(
            "pk", flat=True
        )
        return _in_order([self.get(pk) for pk in ids])

    def tasks(self, instance_id: Any) -> list[dict[str, Any]]:
        rows = HumanTaskModel.objects.filter(instance_id=instance_id).order_by("created_at")
        return [
            {
                "step": row.step_name,
                "status": str(row.status),
                "title": row.title,
                "assignee": row.assignee_id,
                "group": row.assignee_group,
                "tenant": row.tenant_id,
                "completed_by": row.completed_by,
            }
            for row in rows
        ]

    def use_event_bus(self, bus: Any) -> None:
        self.bus = self.engine.event_bus = self.worker_engine.event_bus = bus

    def fingerprint(self) -> Any:
        messages = [
            list(model.objects.order_by("pk").values())
            for model in (MessageSubscriptionModel, MessageModel)
        ]
        return snapshot(), messages, len(self.bus.events)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.stop()


def _in_order(children: list[Snapshot]) -> list[Snapshot]:
    return sorted(children, key=lambda c: (c.started_at, c.metadata["parent"].get("index", 0)))


class _WorkerThread:
    """A thread that runs burst workers when asked, as a worker process would: with its
    own database connection, kept from one run to the next."""

    def __init__(self, burst: Callable[[], None]) -> None:
        self._burst = burst
        self._requests: queue.Queue[bool] = queue.Queue()
        self._results: queue.Queue[BaseException | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="contract-worker", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while self._requests.get():
                try:
                    self._burst()
                except BaseException as exc:
                    self._results.put(exc)
                else:
                    self._results.put(None)
        finally:
            connections.close_all()

    def run_burst(self) -> None:
        self._requests.put(True)
        try:
            failure = self._results.get(timeout=SETTLE_TIMEOUT)
        except queue.Empty:
            raise AssertionError("the worker did not settle") from None
        if failure is not None:
            raise failure

    def stop(self) -> None:
        self._requests.put(False)
        self._thread.join(SETTLE_TIMEOUT)
