"""What a commit of an instance's state does besides saving it.

In the transaction that saves a change (:meth:`Effects.committing`):

- the tasks of an instance that failed go on hold (see :mod:`.task_actions`);
- the dispatcher is told when the instance is left with a step to run and the commit is
  not a drive's that runs on (see :mod:`.dispatch`);
- the change's events are queued, and sent once the transaction commits: as Django
  signals (:mod:`workflows_app.signals`) and to the engine's event bus, if anyone
  listens. A receiver or a bus that raises is logged, never more;
- with ``TASK_EMAILS`` on, the people of the tasks it creates are mailed once it commits
  (see :mod:`.task_mail`).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction

from workflows_app import conf, signals
from workflows_app.core.models import WorkflowInstanceData
from workflows_app.core.types import WorkflowStatus
from workflows_app.engine import (
    dispatch,
    leases,
    runner,
    semantics,
    store,
    subworkflows,
    task_actions,
    task_mail,
)

__all__ = ["Effects"]

logger = logging.getLogger("workflows_app.engine.persistent")


class Effects:
    """The side effects of commits on the database ``using``; events are sent as coming
    from ``sender`` (the engine's class) and to ``event_bus`` (or nothing)."""

    def __init__(self, using: str, sender: type, event_bus: Any | None) -> None:
        self.using = using
        self.sender = sender
        self.event_bus = event_bus
        self.engine: Any = None  # the persistent engine, for subworkflows (set by it)

    def committing(
        self, state: WorkflowInstanceData, events: list[semantics.Event], owner: Any
    ) -> None:
        """Called in the transaction that saves ``state`` with lease ``owner``."""
        if state.status == WorkflowStatus.FAILED:
            task_actions.hold(self.using, state.id)
        if self.engine is not None:
            if state.status.is_terminal:
                subworkflows.closed(self.engine, state)
            elif owner is None:
                subworkflows.requested_cancel(self.engine, state)
        self.send_after_commit(events)
        if owner is leases.KEEP or owner is None:  # not a drive that runs on
            wake = store.wake_at(state, semantics.utcnow())
            if wake is not None:
                dispatch.dispatcher(self.using).notify(state.id, wake)

    def send_after_commit(self, events: list[semantics.Event]) -> None:
        """Send ``events`` once the current transaction commits, if anyone listens (and
        mail the people of the tasks they create, with ``TASK_EMAILS`` on)."""
        created = [p["task_id"] for name, p in events if name == "task.created"]
        if created and conf.get_settings().TASK_EMAILS:
            transaction.on_commit(
                partial(task_mail.send_created, self.using, created), using=self.using, robust=True
            )
        if events and (self.event_bus is not None or self._heard(events)):
            transaction.on_commit(partial(self.send, events), using=self.using, robust=True)

    def listens(self, name: str) -> bool:
        """Whether an event called ``name`` would be sent anywhere."""
        return self.event_bus is not None or self._heard([(name, {})])

    def send(self, events: list[semantics.Event]) -> None:
        """Send each event as a Django signal, then to the event bus (if any)."""
        for name, payload in events:
            signal = signals.BY_EVENT.get(name)
            if signal is not None and signal.has_listeners(self.sender):
                for receiver, result in signal.send_robust(self.sender, event=name, **payload):
                    if isinstance(result, Exception):
                        logger.error(
                            "receiver %r of %s raised %r", receiver, name, result, exc_info=result
                        )
            if self.event_bus is not None:
                try:
                    runner.call(self.event_bus.emit, name, **payload)
                except Exception:
                    logger.exception("event bus failed on %s", name)

    def _heard(self, events: list[semantics.Event]) -> bool:
        return any(
            signal.has_listeners(self.sender)
            for signal in {signals.BY_EVENT.get(name) for name, _ in events} - {None}
        )
