"""Waking idle workers: a wake-up call, and a PostgreSQL ``LISTEN`` that rings it.

A worker's idle threads wait on a :class:`Wakeup` for at most their poll interval. On
PostgreSQL (see :mod:`workflows_app.engine.dispatch`) the engine sends ``NOTIFY`` in
every transaction that leaves an instance runnable now, and a :class:`Listener`
thread, one per worker process, listens (``LISTEN``) on a psycopg connection of its
own and wakes one idle thread per notification. The connection is not one of Django's: those belong to
the threads that run transactions, and a listening connection must stay out of them.

If the connection breaks, the listener logs it and reconnects after a delay; meanwhile
the threads poll, as they do on databases without ``LISTEN``. Notifications sent while
it was away are lost, so on every (re)connection it wakes all threads once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.db import connections

from workflows_app.engine.dispatch import CHANNEL

__all__ = ["Listener", "Wakeup"]

logger = logging.getLogger(__name__)


class Wakeup:
    """Where idle threads wait for work; a wake-up that finds nobody waiting is kept.

    Each :meth:`wake` leaves a permit (at most ``limit``, the number of threads) that
    the next :meth:`wait` takes at once, so a notification that arrives between a
    thread's empty claim and its wait is not missed.
    """

    def __init__(self, limit: int = 1) -> None:
        self.limit = limit
        self._condition = threading.Condition()
        self._permits = 0
        self._closed = False

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; return whether woken (or closed) before it."""
        with self._condition:
            self._condition.wait_for(lambda: self._permits or self._closed, timeout)
            if self._permits:
                self._permits -= 1
                return True
            return self._closed

    def wake(self, count: int = 1) -> None:
        """Wake ``count`` waiting threads (or the next ones to wait)."""
        with self._condition:
            self._permits = min(self.limit, self._permits + count)
            self._condition.notify(count)

    def close(self) -> None:
        """Wake every thread now and whenever it waits again (the worker is stopping)."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()


class Listener:
    """A thread that listens on :data:`~workflows_app.engine.dispatch.CHANNEL` and
    rings ``wakeup`` for every notification.

    The connection is built from the settings of the database ``using`` (as Django
    would connect, with ``application_name`` "workflows_app listener" unless the
    ``OPTIONS`` name one). ``reconnect_delay`` is how long to wait before connecting
    again after a failure; ``check_interval`` how often an idle connection is checked
    with ``SELECT 1``, so that a dead one is noticed.
    """

    #: How long one wait for notifications lasts: the longest :meth:`stop` waits.
    _TICK = 0.2

    def __init__(
        self,
        using: str,
        wakeup: Wakeup,
        *,
        reconnect_delay: float = 5.0,
        check_interval: float = 30.0,
    ) -> None:
        self.using = using
        self.wakeup = wakeup
        self.reconnect_delay = reconnect_delay
        self.check_interval = check_interval
        self.listening = threading.Event()
        """Set while the listener is connected and listening."""
        self.backend_pid: int | None = None
        """The process id of the listening connection's server process (while listening)."""
        self._params = _connection_params(using)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start listening in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="workflows-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening, close the connection and wait for the thread to end."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            import psycopg
        except ImportError:  # Django on psycopg2: there is no LISTEN here, only polling
            logger.warning("listening needs psycopg 3; polling only", extra={"action": "listen"})
            return
        while not self._stopping.is_set():
            try:
                with psycopg.connect(**self._params) as connection:
                    connection.execute(f'LISTEN "{CHANNEL}"')
                    self.backend_pid = connection.info.backend_pid
                    self.listening.set()
                    logger.info(
                        "listening for runnable instances on channel %s",
                        CHANNEL,
                        extra={"action": "listen"},
                    )
                    self.wakeup.wake(self.wakeup.limit)  # what was notified while away
                    self._listen(connection)
            except Exception as exc:
                if self._stopping.is_set():
                    break
                logger.warning(
                    "%s on channel %s: %s; polling until it reconnects in %s s",
                    "lost the listening connection" if self.listening.is_set() else "cannot listen",
                    CHANNEL,
                    exc,
                    self.reconnect_delay,
                    extra={"action": "listen"},
                )
            finally:
                self.listening.clear()
                self.backend_pid = None
            self._stopping.wait(self.reconnect_delay)

    def _listen(self, connection: Any) -> None:
        checked = time.monotonic()
        while not self._stopping.is_set():
            for _notification in connection.notifies(timeout=self._TICK):
                self.wakeup.wake()
            if time.monotonic() - checked >= self.check_interval:
                connection.execute("SELECT 1")
                checked = time.monotonic()


def _connection_params(using: str) -> dict[str, Any]:
    """Return psycopg's connection arguments for the database ``using``, in autocommit."""
    params = connections[using].get_connection_params()
    # Django's cursor class and type adapters serve its ORM; LISTEN needs neither.
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.setdefault("application_name", "workflows_app listener")
    params.setdefault("connect_timeout", 10)
    params["autocommit"] = True
    return params
