"""Who is calling the REST API: Django's session, or a signed bearer token.

Browsers use the session they logged in with (the admin's, for instance), with
Django's CSRF check on unsafe methods. Programs send
``Authorization: Bearer <token>``, where the token comes from
``manage.py workflows_token <username>`` or :func:`make_token`.

A token is the user's primary key and a fingerprint of the user's password hash,
signed with ``SECRET_KEY`` and dated. Checking one costs an HMAC and the user
query: no table of tokens, and no password hashing on every request (HTTP Basic
would run the password hasher, deliberately slow, on each call). A token stops
working when it is older than ``WORKFLOWS["API_TOKEN_MAX_AGE"]``, when the user
changes password or is deactivated, and when ``SECRET_KEY`` changes. One token
cannot be revoked on its own; a project that needs that plugs its own scheme into
``WORKFLOWS["API_AUTH"]``.

With ``WORKFLOWS["API_TOKEN_CACHE_SECONDS"]`` above 0, a process remembers the user of a
token it checked for that long, and skips the check and the query when the same token
comes back. Saving or deleting a user, changing its groups or permissions, and changing
groups forget what the process remembered at once; other processes notice within the
cache time.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.signals import setting_changed
from django.db import connections, transaction
from django.db.models import CharField, IntegerField
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare, salted_hmac
from ninja.security import HttpBearer, SessionAuth

from workflows_app import conf
from workflows_app.engine.compiled import CompiledQuery
from workflows_app.services import remember_group_names

__all__ = ["make_token", "session_auth", "token_auth", "user_for_token"]

_SALT = "workflows_app.api.token"


class LoggedInSessionAuth(SessionAuth):
    """ninja's ``django_auth``, checking CSRF only when the session has a user: without
    one, the answer is 401 (authenticate), not a CSRF failure (403), and the next
    authentication callable is tried."""

    def __call__(self, request: HttpRequest) -> Any | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super().__call__(request)


session_auth = LoggedInSessionAuth()
"""Django's session (``request.user``), with the CSRF check on unsafe methods."""


def _fingerprint(user: Any) -> str:
    return salted_hmac(_SALT, user.password or "", algorithm="sha256").hexdigest()[:20]


def make_token(user: Any) -> str:
    """Return a bearer token for ``user`` (valid for ``API_TOKEN_MAX_AGE`` seconds)."""
    return signing.dumps({"u": str(user.pk), "f": _fingerprint(user)}, salt=_SALT)


def user_for_token(token: str) -> Any | None:
    """Return the active user a token was made for, or None if it is not (or no longer) valid."""
    settings = conf.get_settings()
    if settings.API_TOKEN_CACHE_SECONDS:
        user = token_cache.get(token)
        if user is not None:
            return user
    generation = token_cache.generation
    try:
        data = signing.loads(token, salt=_SALT, max_age=settings.API_TOKEN_MAX_AGE)
        user_pk, fingerprint = data["u"], data["f"]
    except (signing.BadSignature, TypeError, KeyError):
        return None
    try:
        user = _user_with_groups(user_pk)
    except (ValidationError, ValueError, TypeError):
        return None
    if user is None or not user.is_active:
        return None
    if not constant_time_compare(fingerprint, _fingerprint(user)):
        return None  # the password changed since
    if settings.API_TOKEN_CACHE_SECONDS:
        expires = _signed_at(token) + settings.API_TOKEN_MAX_AGE - time.time()
        seconds = min(settings.API_TOKEN_CACHE_SECONDS, expires)
        token_cache.put(token, user, seconds, generation)
    return user


def _signed_at(token: str) -> float:
    """When a valid token was made (the timestamp that ``signing.dumps`` puts in it)."""
    return float(signing.b62_decode(token.rsplit(":", 2)[-2]))


class TokenCache:
    """The users of tokens this process checked lately, each for a number of seconds.

    The user object is shared by the requests that bring the same token while it is
    remembered (with the group names and permissions it has read), so treat
    ``request.user`` as read-only. The cache forgets a user when it is saved or deleted,
    or its groups or permissions change, and forgets everyone when a group is saved or
    deleted or its permissions change.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._users: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._listening = False
        self.generation = 0
        """How many times the cache forgot: a user read before it last forgot is not put."""

    def get(self, token: str) -> Any | None:
        entry = self._users.get(token)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            with self._lock:
                self._users.pop(token, None)
            return None
        return entry[1]

    def put(self, token: str, user: Any, seconds: float, generation: int | None = None) -> None:
        """Remember ``token``'s user for ``seconds``, unless the cache forgot anything since
        ``generation`` (what the user was read at): the user may be what was changed."""
        if seconds <= 0:
            return
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            if not self._listening:
                self._listen()
            while len(self._users) >= self.size:
                del self._users[next(iter(self._users))]  # the oldest entry
            self._users[token] = (time.monotonic() + seconds, user)

    def forget(self, user_pk: Any) -> None:
        with self._lock:
            self.generation += 1
            for token, (_, user) in list(self._users.items()):
                if user.pk == user_pk:
                    del self._users[token]

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._users.clear()

    def __len__(self) -> int:
        return len(self._users)

    def _listen(self) -> None:
        """Connect the signals that make the cache forget (once, when it first fills)."""
        user_model = get_user_model()
        uid = f"workflows_app.api.auth.{id(self)}"
        # Any sender: a proxy of the user model (an admin's, say) sends its own signals.
        post_save.connect(self._user_changed, dispatch_uid=f"{uid}.save")
        post_delete.connect(self._user_changed, dispatch_uid=f"{uid}.delete")
        m2m_changed.connect(self._relation_changed, dispatch_uid=f"{uid}.m2m")
        fields = {field.name: field for field in user_model._meta.get_fields()}
        if "groups" in fields:
            group_model = fields["groups"].related_model
            post_save.connect(self._everyone, sender=group_model, dispatch_uid=f"{uid}.gs")
            post_delete.connect(self._everyone, sender=group_model, dispatch_uid=f"{uid}.gd")
        self._listening = True

    def _user_changed(self, instance: Any, using: str | None = None, **kwargs: Any) -> None:
        if isinstance(instance, get_user_model()):
            self._after_change(functools.partial(self.forget, instance.pk), using)

    def _everyone(self, using: str | None = None, **kwargs: Any) -> None:
        self._after_change(self.clear, using)

    def _relation_changed(
        self, instance: Any, action: str, using: str | None = None, **kwargs: Any
    ) -> None:
        if not action.startswith("post_"):
            return
        if isinstance(instance, get_user_model()):
            self._after_change(functools.partial(self.forget, instance.pk), using)
        elif type(instance)._meta.app_label == "auth":
            # A group's members or permissions, or a permission's holders, changed.
            self._after_change(self.clear, using)

    @staticmethod
    def _after_change(forget: Callable[[], None], using: str | None) -> None:
        """Forget now, and again when the change commits: a request in between may have
        read, and remembered, what was there before."""
        forget()
        transaction.on_commit(forget, using=using)


token_cache = TokenCache()
"""The process's :class:`TokenCache` (used when ``API_TOKEN_CACHE_SECONDS`` is above 0)."""


@receiver(setting_changed, dispatch_uid="workflows_app.api.auth.forget_tokens")
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    """A new ``SECRET_KEY`` or ``WORKFLOWS`` (in tests) may make remembered tokens invalid."""
    if setting in ("SECRET_KEY", "WORKFLOWS", "AUTH_USER_MODEL"):
        token_cache.clear()


def _user_with_groups(user_pk: Any) -> Any | None:
    """The user ``user_pk``, read through the user model's default manager (a custom one
    may leave users out), with its group names read in the same query (one row per group)
    and kept for :func:`workflows_app.services.group_names`; None if there is none.

    The query is compiled once per manager (:class:`~workflows_app.engine.compiled.CompiledQuery`)
    when the user model's primary key is an integer or text, as Django's is."""
    user_model = get_user_model()
    manager = user_model._default_manager
    if not any(field.name == "groups" for field in user_model._meta.get_fields()):
        return manager.filter(pk=user_pk).first()  # a user model without Django's groups
    shape = (manager, tuple(field.attname for field in user_model._meta.concrete_fields))
    pk_field = user_model._meta.pk
    if isinstance(pk_field, IntegerField | CharField):
        value = pk_field.to_python(user_pk)
        if value is None:
            return None
        if isinstance(pk_field, IntegerField):
            ops = connections[manager.db].ops
            low, high = ops.integer_field_range(pk_field.get_internal_type())
            if (low is not None and value < low) or (high is not None and value > high):
                return None  # no row can have it (and SQLite would refuse the number)
        rows = _compiled_users(user_model).run(_user_rows, shape, {"pk": value})
    else:
        rows = list(_user_rows(shape, {"pk": user_pk}))  # the ORM, each time
    if not rows:
        return None
    user = user_model.from_db(manager.db, shape[1], rows[0][:-1])
    remember_group_names(user, [row[-1] for row in rows if row[-1] is not None])
    return user


def _user_rows(shape: tuple[Any, tuple[str, ...]], params: Any) -> Any:
    """A user's columns, once per group name (the build of the compiled user query)."""
    manager, names = shape
    return manager.filter(pk=params["pk"]).values_list(*names, "groups__name")


@functools.cache
def _compiled_users(user_model: Any) -> CompiledQuery:
    return CompiledQuery(user_model, size=8)


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer <token>`` with a token from :func:`make_token`."""

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


token_auth = BearerTokenAuth()
