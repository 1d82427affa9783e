"""Every error of the REST API as one JSON shape (:class:`~workflows_app.api.schemas.ErrorDTO`).

``{"status_code": 404, "detail": "Task '...' not found", "code": "not_found", "errors": []}``

Library exceptions map to their status here, once: not found 404, state conflicts
409, not allowed 403, invalid data 422 with one entry per field. The handlers are
installed on the host's ``NinjaAPI`` by :func:`workflows_app.api.register`; for
requests to other routes of that API, ninja's own handling is kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from workflows_app.core import jsonvalues
from workflows_app.core.exceptions import (
    CallbackNotFoundError,
    CommentNotFoundError,
    DelegateCannotCompleteError,
    ExcludedUserError,
    NotDelegateError,
    NotSubstituteError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    TaskValidationError,
    UnauthorizedCommentError,
    WorkflowAlreadyCompletedError,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowsError,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.services import NotAllowedError

# (exception class, status, code), most specific first.
STATUSES: list[tuple[type[Exception], int, str]] = [
    (WorkflowNotFoundError, 404, "workflow_not_found"),
    (WorkflowInstanceNotFoundError, 404, "instance_not_found"),
    (TaskNotFoundError, 404, "task_not_found"),
    (CallbackNotFoundError, 404, "callback_not_found"),
    (CommentNotFoundError, 404, "comment_not_found"),
    (TaskAlreadyCompletedError, 409, "task_already_completed"),
    (WorkflowAlreadyCompletedError, 409, "workflow_finished"),
    (WorkflowStateError, 409, "conflict"),
    (TaskValidationError, 422, "invalid_task_data"),
    (WorkflowValidationError, 422, "invalid"),
    (NotAllowedError, 403, "forbidden"),
    # A four-eyes rule of the task's step excludes the user, whatever their permissions.
    (ExcludedUserError, 403, "excluded_user"),
    # Only the owner of a delegated task completes it; only its delegate resolves it.
    (DelegateCannotCompleteError, 403, "delegate_cannot_complete"),
    (NotDelegateError, 403, "not_delegate"),
    # Acting for a user one does not substitute for now.
    (NotSubstituteError, 403, "not_substitute"),
    (UnauthorizedCommentError, 403, "forbidden"),
]

BODY = "data"
"""The name of every body parameter of the API's operations."""

MARK = "_workflows_api"
"""Set on requests routed to this API's operations, before their input is parsed."""


UNAUTHENTICATED = (
    "Authentication required: send a valid bearer token, 'Authorization: Bearer <token>'"
)
"""The detail of every 401 answer of both faces (which also carries ``WWW-Authenticate:
Bearer``): it names the credential a program sends. (Django's session, which browsers
use, also works on the django-ninja face.)"""

MALFORMED = "Cannot parse request body"
"""The detail of a 400 for a body that is not JSON (with the parser's message under DEBUG)."""

# The framework-free answers below are ``(status, body)`` pairs: each face (ninja here, the
# Litestar adapter) writes them with its own response class.
Answer = tuple[int, dict[str, Any]]


def error_body(
    status: int, detail: str, code: str, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"status_code": status, "detail": detail, "code": code, "errors": errors or []}


def error_response(
    status: int, detail: str, code: str, errors: list[dict[str, Any]] | None = None
) -> JsonResponse:
    return JsonResponse(error_body(status, detail, code, errors), status=status)


def library_error(request: HttpRequest, exc: WorkflowsError) -> HttpResponse:
    answer = library_answer(exc)
    if answer is None:
        raise exc  # an engine failure, not the caller's: a 500, logged by Django
    status, body = answer
    return JsonResponse(body, status=status)


def library_answer(exc: WorkflowsError) -> Answer | None:
    """The answer to a library exception, or None for one that is not the caller's fault
    (an engine failure: a 500)."""
    found = next((entry for entry in STATUSES if isinstance(exc, entry[0])), None)
    if found is None:
        return None
    _, status, code = found
    errors = []
    if isinstance(exc, TaskValidationError):
        errors = [
            {
                "loc": ["body", "output_data", *_path(path)],
                "msg": message,
                "type": "form_schema",
            }
            for path, messages in exc.field_errors.items()
            for message in messages
        ]
    elif isinstance(exc, WorkflowValidationError) and exc.field_errors:
        # A start's input_data against the workflow's input_schema.
        errors = [
            {"loc": ["body", "input_data", *_path(path)], "msg": message, "type": "input_schema"}
            for path, messages in exc.field_errors.items()
            for message in messages
        ]
    elif isinstance(exc, WorkflowValidationError):
        errors = [{"loc": ["body"], "msg": message, "type": "invalid"} for message in exc.errors]
    return status, error_body(status, str(exc), code, errors)


def _path(path: str) -> list[str | int]:
    """``"items/0/qty"`` -> ``["items", 0, "qty"]``."""
    return [int(part) if part.isdigit() else part for part in path.split("/") if part]


def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {"loc": _location(error["loc"]), "msg": error.get("msg", ""), "type": error["type"]}
        for error in exc.errors
    ]
    status, body = invalid_request(errors)
    return JsonResponse(body, status=status)


def invalid_request(errors: list[dict[str, Any]]) -> Answer:
    """The answer to input that failed validation: ``errors`` are ``{"loc", "msg", "type"}``
    with ``loc`` starting at ``"path"``, ``"query"`` or ``"body"``."""
    if errors and all(error["loc"][0] == "path" for error in errors):
        # An id that cannot be one (not a UUID) names nothing: not found, as upstream.
        return 404, error_body(404, "Not found: no such id", "not_found", errors)
    fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in errors)
    return 422, error_body(422, f"Invalid request: {fields}", "validation_error", errors)


def _location(loc: Any) -> list[str | int]:
    """ninja's ``("body", "data", "amount")`` -> ``["body", "amount"]`` (``data`` is the name
    of every body parameter here, not a field of the request)."""
    parts = [part if isinstance(part, int) else str(part) for part in loc]
    if parts[:2] == ["body", BODY]:
        del parts[1]
    return parts


NO_ROUTE = "Not found: no such route"
"""The detail of the 404 for a path that no operation serves."""


def method_not_allowed(method: str, allowed: list[str]) -> JsonResponse:
    """The 405 of a method that the path's operations do not take (with ``Allow``)."""
    detail = f"Method {method} not allowed here: use {', '.join(allowed)}"
    response = error_response(405, detail, "method_not_allowed")
    response["Allow"] = ", ".join(allowed)
    return response


def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error_response(401, UNAUTHENTICATED, "unauthenticated")
    response["WWW-Authenticate"] = "Bearer"
    return response


def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja raises these for a body it cannot parse (400) and a failed CSRF check (403).
    code = {400: "malformed", 403: "forbidden"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, str(exc), code)


def too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
    return body_too_large()


def body_too_large() -> JsonResponse:
    status, body = too_large_answer()
    return JsonResponse(body, status=status)


def too_large_answer() -> Answer:
    from workflows_app import conf

    limit = conf.get_settings().API_MAX_BODY_BYTES
    return 413, error_body(413, f"The request body is larger than {limit} bytes", "too_large")


def refuse_input(request: HttpRequest) -> JsonResponse | None:
    """Refuse what no route may take (:func:`input_answer`), before ninja parses anything."""
    body = request.body if request.method in ("POST", "PUT", "PATCH") else None
    answer = input_answer(request.path, request.GET.lists(), body)
    if answer is None:
        return None
    status, content = answer
    return JsonResponse(content, status=status)


def input_answer(
    path: str, query: Iterable[tuple[str, list[str]]], body: bytes | None
) -> Answer | None:
    """The refusal of a request that no route may take, for any framework (given the
    decoded path, the query's ``(key, values)`` pairs, and the raw body, None when the
    method has none), or None.

    - NUL characters in the path (404) or the query (422): PostgreSQL's driver cannot
      take them in text, and every database answers alike.
    - A JSON body that breaks the storage rule (:mod:`workflows_app.core.jsonvalues`:
      ``NaN`` and infinities, lone surrogates, NUL characters, nesting deeper than
      ``JSON_MAX_DEPTH`` in any field): 422, one entry per problem, at its place. A body
      that is not JSON at all is left to the route's parser (400).
    """
    if "\x00" in path:
        return 404, error_body(404, "Not found: no such id", "not_found")
    errors: list[dict[str, Any]] = [
        {"loc": ["query", key], "msg": NUL_REFUSED, "type": "nul_character"}
        for key, values in query
        if any("\x00" in text for text in [key, *values])
    ]
    if body:
        errors.extend(_body_problems(body))
    if not errors:
        return None
    return invalid_request(errors)


NUL_REFUSED = "NUL characters (\\u0000) are not accepted"


def _body_problems(body: bytes) -> list[dict[str, Any]]:
    from workflows_app import conf

    max_depth = conf.get_settings().JSON_MAX_DEPTH
    try:
        value = json.loads(body)
    except RecursionError:
        message = f"is nested deeper than {max_depth} levels"
        return [{"loc": ["body"], "msg": message, "type": "too_deep"}]
    except ValueError:  # not JSON (UnicodeDecodeError included): the parser's 400
        return []
    # An object's fields are what is stored (input_data, metadata, output_data...): each
    # may nest as deep as the limit allows, so the object itself is level 0.
    level = 0 if isinstance(value, dict) else 1
    found = jsonvalues.problems(value, max_depth, limit=10, level=level)
    return [
        {"loc": ["body", *problem.path], "msg": problem.message, "type": problem.code}
        for problem in found
    ]


HANDLERS: dict[type[Exception], Callable[[HttpRequest, Any], HttpResponse]] = {
    WorkflowsError: library_error,
    ValidationError: validation_error,
    AuthenticationError: authentication_error,
    HttpError: http_error,
    RequestDataTooBig: too_big,
}


def install(api: NinjaAPI) -> None:
    """Answer this API's errors with :class:`ErrorDTO`; keep ``api``'s handling elsewhere."""
    for exc_class, handler in HANDLERS.items():
        api.add_exception_handler(exc_class, _only_ours(handler, api, exc_class))


def _only_ours(
    handler: Callable[[HttpRequest, Any], HttpResponse], api: NinjaAPI, exc_class: type
) -> Callable[[HttpRequest, Any], HttpResponse]:
    previous = api._exception_handlers.get(exc_class)  # ninja keeps no public getter

    def handle(request: HttpRequest, exc: Any) -> HttpResponse:
        if getattr(request, MARK, False) or previous is None:
            return handler(request, exc)
        return previous(request, exc)

    return handle
