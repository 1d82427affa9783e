"""Every refusal of the API's Litestar routes in the API's one error shape
(:mod:`workflows_app.api.errors`), from one exception handler: :func:`api_error`.

Litestar parses a route's input and stops at the first parameter it cannot take; the
django-ninja face lists every problem at once (path, then query, then body), and answers
404 when the only problems are ids that cannot be ids. So on a validation error the
handler validates the request's raw path parameters, query and body once more with the
types the route declares, for the whole list, in that order.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from litestar import Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.exceptions.responses import create_debug_response, create_exception_response
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from workflows_app.api import errors
from workflows_app.contrib.litestar.inputs import PATH_VALIDATORS, query_values
from workflows_app.core.exceptions import WorkflowsError

__all__ = ["BODY", "api_error", "routing_errors"]

BODY = "workflows_app.body"
"""The key, in the scope's state, of the request body the gate read (for :func:`api_error`)."""

_CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 413: "too_large"}


def api_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The answer to what a route raised: a library exception, a refused input, or one of
    Litestar's own refusals (a guard's 401 or 403, a 405)."""
    if isinstance(exc, WorkflowsError):
        found = errors.library_answer(exc)
        if found is None:  # an engine failure, not the caller's: Litestar's 500
            if request.app.debug:
                return create_debug_response(request, exc)
            return create_exception_response(request, exc)
        return answer(found)
    if isinstance(exc, ValidationException):
        return answer(errors.invalid_request(_problems(request) or _litestars(exc)))
    if isinstance(exc, ClientException) and isinstance(exc.__cause__, SerializationException):
        cause = exc.__cause__.__cause__ or exc.__cause__  # the json module's own message
        detail = f"{errors.MALFORMED} ({cause})" if settings.DEBUG else errors.MALFORMED
        return answer((400, errors.error_body(400, detail, "malformed")))
    if not isinstance(exc, HTTPException):
        raise TypeError(f"api_error handles HTTP and library exceptions, not {exc!r}")
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    body = errors.error_body(status, exc.detail or "Error", _CODES.get(status, "http_error"))
    return answer((status, body), headers)


def routing_errors(prefix: str, handlers: dict[Any, Any]) -> dict[Any, Any]:
    """The application's handlers of the two refusals Litestar makes before any route runs:
    no route for the path (404) and a method the path does not take (405). Under the API's
    ``prefix`` they answer in the API's error shape; elsewhere the application's own handler
    for them (in ``handlers``), or Litestar's default, answers as before."""
    prefix = prefix.rstrip("/")

    def routed(exc_class: type[HTTPException], status: int) -> Any:
        previous = handlers.get(exc_class) or handlers.get(status)

        def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
            path = request.url.path
            if path == prefix or path.startswith(prefix + "/"):
                if isinstance(exc, MethodNotAllowedException):
                    allowed = sorted(
                        method.strip()
                        for method in (exc.headers or {}).get("allow", "").split(",")
                        if method.strip() and method.strip() not in ("HEAD", "OPTIONS")
                    )
                    detail = f"Method {request.method} not allowed here: use {', '.join(allowed)}"
                    found = (405, errors.error_body(405, detail, "method_not_allowed"))
                    return answer(found, {"Allow": ", ".join(allowed)})
                return answer((404, errors.error_body(404, errors.NO_ROUTE, "not_found")))
            if previous is not None:
                return previous(request, exc)
            return create_exception_response(request, exc)

        return handle

    return {
        NotFoundException: routed(NotFoundException, 404),
        MethodNotAllowedException: routed(MethodNotAllowedException, 405),
    }


def answer(found: errors.Answer, headers: dict[str, str] | None = None) -> Response[Any]:
    """A ``(status, body)`` pair of :mod:`workflows_app.api.errors` as a response."""
    status, body = found
    return Response(
        content=json.dumps(body).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _problems(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """What is wrong with the request's input, as the ninja face lists it."""
    fields = request.route_handler.parsed_fn_signature.parameters
    problems: list[dict[str, Any]] = []
    for name, raw in request.path_params.items():
        field = fields.get(name)
        validator = PATH_VALIDATORS.get(field.annotation) if field is not None else None
        if validator is not None:
            problems += _validate(validator.validate_python, raw, "path", name)
    for dependency in request.route_handler.resolve_dependencies().values():
        query = getattr(dependency.dependency, "query_model", None)  # query_dependency()'s
        if query is not None:
            problems += _validate(query.model_validate, query_values(request.scope), "query")
    if "data" in fields:
        raw_body = request.scope.get("state", {}).get(BODY)
        body = fields["data"].annotation
        if not raw_body:
            problems.append({"loc": ["body"], "msg": "Field required", "type": "missing"})
        elif isinstance(body, type) and issubclass(body, BaseModel):
            # Valid JSON: it was read before (or the answer would be a 400).
            problems += _validate(body.model_validate, json.loads(raw_body), "body")
    return problems


def _validate(validate: Any, value: Any, *prefix: str) -> list[dict[str, Any]]:
    try:
        validate(value)
    except PydanticError as exc:
        return [
            {"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False)
        ]
    return []


def _litestars(exc: ValidationException) -> list[dict[str, Any]]:
    """Litestar's own account of a refused input, for a refusal the API's models would not
    make (none is known)."""
    return [
        {
            "loc": [str(message.get("source", "body")), *message.get("key", "").split(".")],
            "msg": message.get("message", ""),
            "type": "invalid",
        }
        for message in exc.extra or []
        if isinstance(message, dict)
    ] or [{"loc": ["body"], "msg": str(exc.detail), "type": "invalid"}]
