"""The one way the tests make users: groups (a ``tenant:<name>`` group gives the demo
resolver's tenant), permissions of this app by codename, staff or superuser flags."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission, User


def make_user(
    username: str,
    *,
    groups: Iterable[str] = (),
    perms: Iterable[str] = (),
    tenant: str | None = None,
    staff: bool = False,
    superuser: bool = False,
    password: str | None = None,
) -> User:
    """A new user (no usable password unless ``password`` is given)."""
    user = User.objects.create_user(
        username, password=password, is_staff=staff, is_superuser=superuser
    )
    names = [*groups, *([f"tenant:{tenant}"] if tenant else [])]
    user.groups.add(*[Group.objects.get_or_create(name=name)[0] for name in names])
    perms = list(perms)
    if perms:
        found = Permission.objects.filter(
            content_type__app_label="workflows_app", codename__in=perms
        )
        assert len(found) == len(perms), f"unknown permissions among {perms}"
        user.user_permissions.add(*found)
    return user
