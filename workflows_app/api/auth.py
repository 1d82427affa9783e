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
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare, salted_hmac
from ninja.security import HttpBearer, SessionAuth

from workflows_app import conf
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
    max_age = conf.get_settings().API_TOKEN_MAX_AGE
    try:
        data = signing.loads(token, salt=_SALT, max_age=max_age)
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
    return user


def _user_with_groups(user_pk: Any) -> Any | None:
    """The user ``user_pk``, with its group names read in the same query (one row per
    group) and kept for :func:`workflows_app.services.group_names`; None if there is none."""
    user_model = get_user_model()
    manager = user_model._default_manager
    if not any(field.name == "groups" for field in user_model._meta.get_fields()):
        return manager.filter(pk=user_pk).first()  # a user model without Django's groups
    names = [field.attname for field in user_model._meta.concrete_fields]
    rows = list(manager.filter(pk=user_pk).values_list(*names, "groups__name"))
    if not rows:
        return None
    user = user_model.from_db(manager.db, names, rows[0][:-1])
    remember_group_names(user, [row[-1] for row in rows if row[-1] is not None])
    return user


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer <token>`` with a token from :func:`make_token`."""

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


token_auth = BearerTokenAuth()
