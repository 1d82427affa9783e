"""The demo's tenant resolver: a user's tenant is the name of its ``tenant:<name>`` group.

Set in the demo settings as ``WORKFLOWS["TENANT_RESOLVER"]``. A user in no such group has
no tenant, and sees only rows without one. A real project would read its tenant from
the host name, a header checked by its gateway, or the user's profile.
"""

from __future__ import annotations

from typing import Any

from workflows_app.services import group_names

PREFIX = "tenant:"


def tenant_of(request: Any) -> str | None:
    """Return the tenant of the request's user, or None."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    tenants = sorted(name for name in group_names(user) if name.startswith(PREFIX))
    return tenants[0][len(PREFIX) :] if tenants else None
