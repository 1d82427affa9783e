"""The demo's tenant resolver: a user's tenant is the name of its ``tenant:<name>`` group.

Set in the demo settings as ``WORKFLOWS["TENANT_RESOLVER"]``. A user in no such group has
no tenant, and sees only rows without one. A real project would read its tenant from
the host name, a header checked by its gateway, or the user's profile.
"""

from __future__ import annotations

from typing import Any

PREFIX = "tenant:"


def tenant_of(request: Any) -> str | None:
    """Return the tenant of the request's user, or None."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    names = user.groups.filter(name__startswith=PREFIX).values_list("name", flat=True)
    first = min(names, default=None)
    return first[len(PREFIX) :] if first is not None else None
