"""The instance metadata keys the engine keeps its records under.

An instance's ``metadata`` is the caller's (``start_workflow(..., metadata=...)``) and the
engine's at once: the engine appends who did what to the instance under the keys below.
A start that gives one of them is refused (:func:`reserved_problems`), so that a caller's
value never mixes with, or breaks, the engine's record. Pure: no Django, no I/O.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BUFFERED_CALLBACKS",
    "BUFFERED_CHILDREN",
    "CANCEL_REQUESTED",
    "COMPENSATION",
    "MIGRATIONS",
    "PARENT",
    "RESERVED",
    "SENT_BACK",
    "SUSPENSIONS",
    "WITHDRAWN",
    "reserved_problems",
]

MIGRATIONS = "migrations"
"""Each move of the instance to another version of its workflow (plan, who, when)."""

SUSPENSIONS = "suspensions"
"""Each suspension and resumption (action, who, when, reason)."""

BUFFERED_CALLBACKS = "buffered_callbacks"
"""The webhook callbacks received while suspended, oldest first (gone on resume)."""

SENT_BACK = "sent_back"
"""Each send back for rework (task, from and to step, reason, who, when)."""

WITHDRAWN = "withdrawn"
"""The withdrawal by the user who started the instance (who, when, reason)."""

PARENT = "parent"
"""For a child instance: the parent instance, step and item that started it."""

BUFFERED_CHILDREN = "buffered_children"
"""The ends of child instances received while the parent was suspended, oldest first."""

CANCEL_REQUESTED = "cancel_requested"
"""For a child instance: its parent asked for it to be canceled (``request_cancel``)."""

COMPENSATION = "compensation"
"""The compensation of a failed or canceled instance: its cause, the original error, the
steps still to undo and those undone, its status and the compensations' errors."""

RESERVED = (
    MIGRATIONS,
    SUSPENSIONS,
    BUFFERED_CALLBACKS,
    SENT_BACK,
    WITHDRAWN,
    PARENT,
    BUFFERED_CHILDREN,
    CANCEL_REQUESTED,
    COMPENSATION,
)
"""Every key a caller's metadata may not have."""


def reserved_problems(metadata: Any) -> list[str]:
    """One message per reserved key that the caller's ``metadata`` (a dict, or anything
    else: then nothing to say) has, in the order of :data:`RESERVED`."""
    if not isinstance(metadata, dict):
        return []
    return [
        f"metadata.{key}: '{key}' is reserved for the engine's records and cannot be given"
        for key in RESERVED
        if key in metadata
    ]
