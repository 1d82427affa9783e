"""Test doubles for projects that test their workflows."""

from __future__ import annotations

from typing import Any

__all__ = ["RecordingEventBus"]


class RecordingEventBus:
    """An event bus (``async emit(event_type, **kwargs)``) that records what it is sent.

    Pass it as ``event_bus=`` to an engine, then look at ``events``, ``names()`` or
    ``of(event_type)``.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def emit(self, event_type: str, **kwargs: Any) -> None:
        self.events.append((event_type, kwargs))

    def names(self, prefix: str = "") -> list[str]:
        """Return the names of the events received, those starting with ``prefix``."""
        return [name for name, _ in self.events if name.startswith(prefix)]

    def of(self, event_type: str) -> list[dict[str, Any]]:
        """Return the keyword arguments of every ``event_type`` event, in order."""
        return [kwargs for name, kwargs in self.events if name == event_type]
