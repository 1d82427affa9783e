"""The worker: claims instances that have steps to run, and runs them.

``manage.py workflows_worker`` runs a :class:`Worker`. Any number of workers, on
any number of hosts, can share one database: a worker claims an instance with
``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL, MariaDB; on SQLite the claim
transaction is the single writer) and holds it under a lease that it renews
while it runs. An instance whose lease lapsed (its worker, or an inline call,
died) is claimed again and its interrupted steps run again.

The heartbeat thread survives the database: when renewing fails (the server restarted,
or ended the connection), it closes its connection, logs, and tries again on a new one
after a short back-off. Drives whose leases it cannot renew commit before their next
step, and stop if that fails too (see :mod:`workflows_app.engine.leases`).

An idle worker looks for work every ``poll_interval`` seconds. On PostgreSQL it also
listens (``LISTEN``) for the ``NOTIFY`` that the engine sends when a commit leaves an
instance runnable, and wakes at once (:mod:`workflows_app.engine.listener`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.db.models import Q

from workflows_app import conf
from workflows_app.core.exceptions import WorkflowNotFoundError
from workflows_app.engine import deadlines, dispatch, leases, listener, semantics
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.engine.store import TRANSIENT_ERRORS
from workflows_app.models import WorkflowInstanceModel

__all__ = ["Worker"]

logger = logging.getLogger(__name__)

# How long to leave an instance alone when this worker cannot run it.
_SKIP = timedelta(seconds=60)


class Worker:
    """Claim runnable instances and run their steps until stopped.

    ``workflows`` limits the worker to those workflow names. ``burst`` makes
    :meth:`run` return once nothing is due. ``concurrency`` is the number of
    threads, each running one instance at a time. Idle threads look for work every
    ``poll_interval`` seconds and, when ``listen`` is true and the engine notifies
    (PostgreSQL, see :mod:`workflows_app.engine.dispatch`), as soon as a notification
    says an instance is runnable.
    """

    #: Seconds between attempts to reconnect a listening connection that broke.
    listen_reconnect_delay = 5.0

    def __init__(
        self,
        engine: PersistentExecutionEngine | None = None,
        *,
        worker_id: str | None = None,
        workflows: Iterable[str] | None = None,
        concurrency: int = 1,
        burst: bool = False,
        poll_interval: float = 1.0,
        max_instances: int | None = None,
        listen: bool = True,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.engine = engine or PersistentExecutionEngine()
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.workflows = sorted(set(workflows)) if workflows else None
        self.concurrency = concurrency
        self.burst = burst
        self.poll_interval = poll_interval
        self.max_instances = max_instances
        self.listen = listen
        self.listener: listener.Listener | None = None
        """The listener of a running worker that listens (None otherwise)."""
        self.processed = 0
        self._stopping = threading.Event()
        self._wakeup = listener.Wakeup(concurrency)
        self._lock = threading.Lock()
        self._held: dict[str, leases.Hold] = {}  # by lease owner, for the heartbeat

    # -- running ---------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped (or, in burst mode, until nothing is due); return the count."""
        heartbeat = threading.Thread(
            target=self._heartbeat, name="workflows-heartbeat", daemon=True
        )
        heartbeat.start()
        try:
            if self.listens():
                self.listener = listener.Listener(
                    self.engine.using, self._wakeup, reconnect_delay=self.listen_reconnect_delay
                )
                self.listener.start()
            if self.concurrency == 1:
                self._loop()
            else:
                threads = [
                    threading.Thread(target=self._thread_loop, name=f"workflows-worker-{n}")
                    for n in range(self.concurrency)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
        finally:
            self._stopping.set()
            self._wakeup.close()
            if self.listener is not None:
                self.listener.stop()
            heartbeat.join(timeout=5)
        return self.processed

    def stop(self) -> None:
        """Finish the instances being run, claim no more, and return from :meth:`run`."""
        self._stopping.set()
        self._wakeup.close()

    def listens(self) -> bool:
        """Return whether :meth:`run` listens for notifications (or only polls)."""
        return self.listen and not self.burst and dispatch.listens(self.engine.using)

    def run_once(self) -> bool:
        """Claim one instance and run it; return False if nothing was due."""
        claim = self._claim()
        if claim is None:
            return False
        if claim is not True:  # True: claimed, found nothing to run
            self._drive(claim)
        return True

    def _drive(self, claim: Any) -> None:
        instance_id, definition, state, claimed, version, hold = claim
        owner = hold.owner
        with self._lock:
            self._held[owner] = hold
        try:
            self.engine.drive.run(instance_id, definition, state, claimed, version, owner, hold)
        finally:
            with self._lock:
                self._held.pop(owner, None)
                self.processed += 1

    def run_instance(self, instance_id: Any) -> bool:
        """Run one instance if it is due and nobody holds it; return whether it ran."""
        try:
            claim = self._claim(instance_id)
        except (ValueError, TypeError, ValidationError):
            return False
        if claim is None or claim is True:
            return claim is True
        self._drive(claim)
        return True

    def run_deadlines(self) -> int:
        """Send due reminders and handle overdue tasks; return how many tasks were handled."""
        now = semantics.utcnow()
        return deadlines.send_reminders(self.engine, now) + deadlines.mark_overdue(self.engine, now)

    def _thread_loop(self) -> None:
        try:
            self._loop()
        finally:
            connections.close_all()

    def _loop(self) -> None:
        next_deadlines = 0.0
        while not self._stopping.is_set():
            if self.max_instances is not None and self.processed >= self.max_instances:
                break
            _close_stale_connections()
            if time.monotonic() >= next_deadlines:
                # Reminders and overdue tasks, at most once per poll interval.
                next_deadlines = time.monotonic() + self.poll_interval
                try:
                    self.run_deadlines()
                except Exception:  # logged; instances still run
                    logger.exception("worker %s failed to handle deadlines", self.worker_id)
            try:
                worked = self.run_once()
            except Exception:
                logger.exception("worker %s failed to run an instance", self.worker_id)
                worked = False
                self._stopping.wait(self.poll_interval)
            if not worked:
                if self.burst:
                    break
                self._wakeup.wait(self.poll_interval)  # a notification ends it early

    # -- claiming ----------------------------------------------------------------------

    def _claim(self, instance_id: Any = None) -> Any:
        """Claim the instance due first (or ``instance_id``, if it is due).

        Return what driving it needs, True (claimed, nothing to run), or None. An
        instance that cannot even be claimed (building its state raised) is failed.
        """
        engine = self.engine
        began = time.monotonic()
        row = None
        try:
            with transaction.atomic(using=engine.using):
                now = semantics.utcnow()
                due = (
                    WorkflowInstanceModel.objects.using(engine.using)
                    .filter(wake_at__lte=now)
                    .filter(Q(lease_owner__isnull=True) | Q(lease_expires_at__lt=now))
                )
                if self.workflows is not None:
                    due = due.filter(workflow_name__in=self.workflows)
                if instance_id is not None:
                    due = due.filter(pk=instance_id)
                row = due.select_for_update(skip_locked=True).order_by("wake_at").first()
                if row is None:
                    return None
                try:
                    definition = engine.store.definition_of(row)
                except WorkflowNotFoundError as exc:
                    logger.error(
                        "instance %s cannot run here: %s", row.pk, exc, extra={"action": "claim"}
                    )
                    _skip(engine.using, row.pk, now)
                    return True
                state = engine.store.state(row, engine.store.history(row.pk))
                events: list[semantics.Event] = []
                # Free or lapsed: what a dead drive claimed runs again, or the instance fails.
                failed = leases.take_over(row, state, events)
                if failed is None:
                    engine.store.save(row, state, None)
                    engine.effects.committing(state, events, None)
                    return True
                claimed = semantics.claim_next(state, definition, events)
                due = semantics.next_due(state)
                idle = claimed is None and semantics.next_ready(state) is None
                if idle and (due is None or due > now):
                    engine.store.save(row, state, None)  # nothing to run after all
                    return True
                owner = leases.worker_owner(self.worker_id)
                engine.store.save(row, state, owner, failed)
                engine.effects.committing(state, events, owner)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            if row is None:
                raise
            self._fail(row.pk, exc)
            return True
        hold = leases.Hold(owner, row.pk, written=began)
        return row.pk, definition, state, claimed, row.lock_version, hold

    def _fail(self, instance_id: Any, exc: Exception) -> None:
        """Fail an instance that raised ``exc`` as it was claimed; if even that fails, leave
        it alone for a while (logged), so that it does not stop the worker."""
        try:
            self.engine.drive.fail(instance_id, None, exc)
        except Exception:
            logger.exception(
                "instance %s cannot be claimed, nor failed; skipped for %s",
                instance_id,
                _SKIP,
                extra={"action": "claim", "instance_id": str(instance_id)},
            )
            _skip(self.engine.using, instance_id, semantics.utcnow())

    def _heartbeat(self) -> None:
        """Renew the leases of the instances being run, every third of the lease.

        When renewing fails, close the connection and try again on a new one after a
        short back-off (doubled each time, up to the usual interval).
        """
        interval = conf.get_settings().LEASE_SECONDS / 3
        delay, failures = interval, 0
        try:
            while not self._stopping.wait(delay):
                with self._lock:
                    held = list(self._held.values())
                try:
                    leases.renew(self.engine.using, held)
                except Exception as exc:
                    failures += 1
                    delay = min(0.1 * 2 ** (failures - 1), interval)
                    logger.warning(
                        "worker %s could not renew its leases (%s: %s); trying again in %.1f s",
                        self.worker_id,
                        type(exc).__name__,
                        exc,
                        delay,
                        extra={"action": "renew", "failures": failures},
                    )
                    self.engine.store.reconnect()
                    continue
                if failures:
                    logger.info(
                        "worker %s renewed its leases again, after %d failed attempts",
                        self.worker_id,
                        failures,
                        extra={"action": "renew", "failures": failures},
                    )
                delay, failures = interval, 0
        finally:
            connections.close_all()


def _skip(using: str, instance_id: Any, now: Any) -> None:
    """Leave an instance that this worker cannot run alone for a while."""
    WorkflowInstanceModel.objects.using(using).filter(pk=instance_id).update(wake_at=now + _SKIP)


def _close_stale_connections() -> None:
    """Close the connections that broke, or outlived CONN_MAX_AGE when it is set.

    Unlike a request, a worker keeps its connection from one instance to the next when
    CONN_MAX_AGE is 0 (the default): reconnecting would cost more than running a step.
    A connection inside an atomic block is left alone: it belongs to a caller (a test
    running the worker in its own transaction, say).
    """
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block or connection.connection is None:
            continue
        if connection.settings_dict.get("CONN_MAX_AGE") != 0:
            connection.close_if_unusable_or_obsolete()
        elif connection.errors_occurred and not connection.is_usable():
            connection.close()
