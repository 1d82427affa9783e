"""What the API does to a request before parsing it, as the ninja face does and in its
order: refuse an oversize body (413) and input no route may take (NUL characters, 404 in the
path, 422 elsewhere; a JSON body that cannot be stored, 422), then authenticate (401). And
the same authentication for an application's own routes: the ``workflow_actor``
dependency (:func:`actor_provider`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.exceptions import NotAuthorizedException

from workflows_app import conf
from workflows_app.api import errors
from workflows_app.api.auth import user_for_token
from workflows_app.contrib.litestar.inputs import query_lists
from workflows_app.contrib.litestar.refusals import BODY
from workflows_app.contrib.litestar.runtime import run_in_django
from workflows_app.services import Actor

__all__ = ["ApiGate", "NotAuthenticated", "actor_provider", "bearer_token_user"]

# Keys of the API routers' ``opt``, read here and by the handlers.
SERVICE = "workflows_service"
AUTHENTICATE = "workflows_authenticate"
PUBLIC = "workflows_public"

_BODY_METHODS = ("POST", "PUT", "PATCH")


def bearer_token_user(connection: Any) -> Any | None:
    """The default authentication: ``Authorization: Bearer <token>`` with a token from
    ``manage.py workflows_token`` (:func:`workflows_app.api.make_token`); the user, or None."""
    scheme, _, token = (connection.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return user_for_token(token)


def authenticated_user(request: Any, authenticate: Callable[[Any], Any]) -> Any | None:
    """``authenticate(request)``, in the request's Django thread: the user, who also goes
    into the scope (``request.user``, for guards and tenant resolvers), or None."""
    user = authenticate(request)
    if user is not None:
        request.scope["user"] = user
    return user


class NotAuthenticated(NotAuthorizedException):
    """A route asked for the ``workflow_actor`` without valid credentials: 401, in the API's
    error shape (the plugin answers it with
    :func:`~workflows_app.contrib.litestar.refusals.api_error`)."""


def actor_provider(authenticate: Callable[[Any], Any]) -> Callable[..., Any]:
    """The provider of the ``workflow_actor`` dependency, for an application's own routes:
    the caller as the API sees it, an :class:`~workflows_app.services.Actor` (user id,
    groups, tenant from ``WORKFLOWS["TENANT_RESOLVER"]``, permissions), authenticated as
    the API authenticates (``authenticate``); :class:`NotAuthenticated` without a user."""

    def actor(request: Request[Any, Any, Any]) -> Actor | None:
        user = authenticated_user(request, authenticate)
        return None if user is None else Actor.for_request(request, user)

    async def provide_workflow_actor(request: Request[Any, Any, Any]) -> Actor:
        found = await run_in_django(actor, request)
        if found is None:
            raise NotAuthenticated(
                detail=errors.UNAUTHENTICATED, headers={"WWW-Authenticate": "Bearer"}
            )
        return found

    return provide_workflow_actor


class ApiGate:
    """Router middleware: refuse oversize bodies and NUL characters, then authenticate,
    in the ninja face's order; the user goes into ``scope["user"]`` (``request.user``), so
    ``api_guards`` and tenant resolvers see it, and the body into the scope's state, for
    the error handler (:func:`~workflows_app.contrib.litestar.refusals.api_error`)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = conf.get_settings().API_MAX_BODY_BYTES
        if _declared_length(scope) > limit:
            await _send_answer(send, errors.too_large_answer())
            return
        body: bytes | None = None
        if scope["method"] in _BODY_METHODS:
            body = await _read_body(receive, limit)
            if body is None:
                await _send_answer(send, errors.too_large_answer())
                return
            receive = _replay(body, receive)
            scope.setdefault("state", {})[BODY] = body
        refusal = errors.input_answer(scope["path"], query_lists(scope), body)
        if refusal is not None:
            await _send_answer(send, refusal)
            return
        opt = scope["route_handler"].opt
        if not opt.get(PUBLIC):
            request: Request[Any, Any, Any] = Request(scope, receive, send)
            user = await run_in_django(authenticated_user, request, opt[AUTHENTICATE])
            if user is None:
                await _send_answer(
                    send,
                    (401, errors.error_body(401, errors.UNAUTHENTICATED, "unauthenticated")),
                    [(b"www-authenticate", b"Bearer")],
                )
                return
        await self.app(scope, receive, send)


def _declared_length(scope: Any) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client left; the handler will find out
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that gives the body already read, then the client's next messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Any:
        if pending:
            return pending.pop()
        return await receive()

    return replay


async def _send_answer(
    send: Any, answer: errors.Answer, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    status, body = answer
    content = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
