"""How the API's Litestar routes read their input: Litestar parses it with the API's
pydantic models, the way the django-ninja face reads it, and documents it.

- A body is ``data: JSONBody[Model]``; :class:`ApiRequest`, the routes' request class,
  reads JSON with Python's :mod:`json`, as ninja's parser does.
- A path id is :data:`PathUUID`: a UUID that pydantic parses, as ninja's ``UUID`` path
  parameters are (Litestar's own parser refuses spellings pydantic takes: braces, a
  ``urn:uuid:`` prefix).
- A query is a model's fields: :func:`query_dependency` declares each field as a Litestar
  query parameter (so Litestar extracts it, a key's last value as in Django's
  ``QueryDict``, and lists it in its OpenAPI schema, with pydantic's schema of the field)
  and provides the model, validated by pydantic as a whole. Litestar has no query model
  of its own (litestar-org/litestar#4155).
"""

from __future__ import annotations

import abc
import inspect
import json
from typing import Annotated, Any
from urllib.parse import parse_qsl
from uuid import UUID

from litestar import Request
from litestar.di import Provide
from litestar.exceptions import SerializationException, ValidationException
from litestar.params import PathParameter, QueryParameter
from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as PydanticError

__all__ = ["ApiRequest", "PathUUID", "query_dependency", "query_lists", "type_decoders"]


def query_lists(scope: Any) -> list[tuple[str, list[str]]]:
    """The query's keys with their values, in order (Django's ``QueryDict.lists()``)."""
    found: dict[str, list[str]] = {}
    text = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace"):
        found.setdefault(key, []).append(value)
    return list(found.items())


def query_values(scope: Any) -> dict[str, str]:
    """For each key of the query, its last value (what Django's ``QueryDict`` gives)."""
    return {key: values[-1] for key, values in query_lists(scope)}


class ApiRequest(Request[Any, Any, Any]):
    """The request of the API's routes: a JSON body is read as ninja's parser reads it
    (Python's :mod:`json`, which takes ``NaN``, and any Unicode encoding), so that both
    faces take and refuse the same bodies."""

    async def json(self) -> Any:
        body = await self.body()
        try:
            return json.loads(body)
        except Exception as exc:  # what ninja's parser refuses: 400
            raise SerializationException(str(exc)) from exc


class _PathUUID(abc.ABC):  # noqa: B024  (a marker type: nothing to implement)
    """A UUID read from a path by pydantic (:func:`type_decoders`). A UUID is one, so a
    handler's value is a plain :class:`uuid.UUID`."""


_PathUUID.register(UUID)

PathUUID = Annotated[_PathUUID, PathParameter(schema_extra={"type": "string", "format": "uuid"})]
"""The type of a path id (the OpenAPI schema says: a string, a UUID)."""

UUID_ADAPTER = TypeAdapter(UUID)


def _decode_path_uuid(_type: Any, value: Any) -> UUID:
    return UUID_ADAPTER.validate_python(value)


type_decoders = [(lambda type_: type_ is _PathUUID, _decode_path_uuid)]
"""The routers' type decoders: path ids through pydantic."""

PATH_VALIDATORS: dict[Any, TypeAdapter[Any]] = {_PathUUID: UUID_ADAPTER}
"""How each type of path parameter is validated, by its annotation (other types: as is)."""


def query_dependency(model: type[BaseModel]) -> Provide:
    """A dependency that provides ``model`` from the query: each of its fields is a query
    parameter of the route (named as the field; documented with pydantic's schema of the
    field), and the model is validated by pydantic as a whole, every field's problem at
    once (a :class:`~litestar.exceptions.ValidationException` from pydantic's error)."""
    schema = model.model_json_schema()
    if "$defs" in schema:
        raise TypeError(f"{model.__name__} has nested models: its schema cannot be inlined")
    parameters = []
    for name, field in model.model_fields.items():
        field_schema = schema["properties"][name]
        declared = QueryParameter(
            name=name,
            required=field.is_required(),
            description=field_schema.get("description"),
            schema_extra=field_schema,
        )
        parameters.append(
            inspect.Parameter(
                _PREFIX + name,  # not the field's own name: "scope" is a Litestar keyword
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if field.is_required() else None,
                annotation=Annotated[Any, declared],
            )
        )

    def provide(**given: Any) -> BaseModel:
        values = {key[len(_PREFIX) :]: value for key, value in given.items() if value is not None}
        try:
            return model.model_validate(values)
        except PydanticError as exc:
            raise ValidationException(f"Invalid query for {model.__name__}") from exc

    provide.__signature__ = inspect.Signature(parameters, return_annotation=model)  # type: ignore[attr-defined]
    provide.__annotations__ = {
        **{parameter.name: parameter.annotation for parameter in parameters},
        "return": model,
    }
    provide.__name__ = provide.__qualname__ = f"{model.__name__}_from_query"
    provide.query_model = model  # type: ignore[attr-defined]  (for the error handler)
    return Provide(provide, sync_to_thread=False)


_PREFIX = "query_"
