"""The engine's hot-path statements, as plain parameterised SQL.

The ORM spends more time building an UPDATE or INSERT than the database spends
running it (measured: 0.41 ms against 0.12 ms for the instance UPDATE on
PostgreSQL). The few statements the engine issues on every step are therefore
written here, once per model and column list, and their values adapted by the
model fields themselves (``get_db_prep_save``), so every database backend gets
what the ORM would have sent; rows read back go through the same backend and
field converters as in the ORM. Everything else stays in the ORM.

:class:`CompiledQuery` does the same for a read whose queryset is worth building once:
the ORM builds and compiles it, and later calls reuse its SQL with their own values.
"""

from __future__ import annotations

import collections
import secrets
import uuid
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import timedelta
from functools import cache
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.core.signals import setting_changed
from django.db import connections, models, router
from django.db.models import QuerySet
from django.dispatch import receiver
from django.utils import timezone

_AUTO_NOW = ("created_at", "updated_at")


@cache
def _fields(model: type[models.Model], names: tuple[str, ...]) -> tuple[models.Field, ...]:
    return tuple(model._meta.get_field(name) for name in names)


def _prepare(fields: tuple[models.Field, ...], values: list[Any], connection: Any) -> list[Any]:
    return [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values, strict=True)
    ]


def update(
    using: str, model: type[models.Model], values: dict[str, Any], where: dict[str, Any]
) -> int:
    """``UPDATE`` the rows matching ``where`` (equalities) with ``values``; return the count."""
    connection = connections[using]
    quote = connection.ops.quote_name
    values = {**values, "updated_at": timezone.now()} if "updated_at" not in values else values
    set_fields = _fields(model, tuple(values))
    where_fields = _fields(model, tuple(where))
    sql = "UPDATE {} SET {} WHERE {}".format(
        quote(model._meta.db_table),
        ", ".join(f"{quote(field.column)} = %s" for field in set_fields),
        " AND ".join(f"{quote(field.column)} = %s" for field in where_fields),
    )
    params = _prepare(set_fields, list(values.values()), connection)
    params += _prepare(where_fields, list(where.values()), connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def insert(using: str, model: type[models.Model], rows: list[dict[str, Any]]) -> None:
    """``INSERT`` ``rows`` (dicts by field attname) in one statement; defaults fill the rest."""
    if not rows:
        return
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = tuple(model._meta.concrete_fields)
    now = timezone.now()
    params: list[Any] = []
    for index, row in enumerate(rows):
        # A microsecond apart, so that ordering by creation keeps the order of the rows.
        created = now + timedelta(microseconds=index)
        values = []
        for field in fields:
            if field.attname in row:
                values.append(row[field.attname])
            elif field.attname in _AUTO_NOW:
                values.append(created)
            else:
                values.append(field.get_default())
        params += _prepare(fields, values, connection)
    placeholders = "({})".format(", ".join(["%s"] * len(fields)))
    sql = "INSERT INTO {} ({}) VALUES {}".format(
        quote(model._meta.db_table),
        ", ".join(quote(field.column) for field in fields),
        ", ".join([placeholders] * len(rows)),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def select_one(
    using: str, model: type[models.Model], names: tuple[str, ...], where: dict[str, Any]
) -> tuple[Any, ...] | None:
    """Return the ``names`` columns of one row matching ``where``, or None.

    For simple columns only (UUID, text, numbers, booleans): values go through the
    field's ``to_python``, not the backend's full conversion.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = _fields(model, names)
    where_fields = _fields(model, tuple(where))
    sql = "SELECT {} FROM {} WHERE {}".format(
        ", ".join(quote(field.column) for field in fields),
        quote(model._meta.db_table),
        " AND ".join(f"{quote(field.column)} = %s" for field in where_fields),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, _prepare(where_fields, list(where.values()), connection))
        row = cursor.fetchone()
    if row is None:
        return None
    return tuple(field.to_python(value) for field, value in zip(fields, row, strict=True))


@cache
def _readers(using: str, model: type[models.Model]) -> tuple[list[str], list[str], list[Any]]:
    """Return the attnames, quoted columns and per-column converters for reading ``model``."""
    connection = connections[using]
    table = model._meta.db_table
    attnames, columns, converters = [], [], []
    for field in model._meta.concrete_fields:
        column = field.get_col(table)
        attnames.append(field.attname)
        columns.append(
            f"{connection.ops.quote_name(table)}.{connection.ops.quote_name(field.column)}"
        )
        chain = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        converters.append((column, chain))
    return attnames, columns, converters


def select(
    using: str,
    model: type[models.Model],
    where: dict[str, Any],
    order_by: tuple[str, ...] = (),
) -> list[Any]:
    """Return the ``model`` instances matching ``where`` (equalities), ordered by columns.

    Values go through the same backend and field converters as in the ORM.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    attnames, columns, converters = _readers(using, model)
    where_fields = _fields(model, tuple(where))
    sql = "SELECT {} FROM {} WHERE {}".format(
        ", ".join(columns),
        quote(model._meta.db_table),
        " AND ".join(f"{quote(field.column)} = %s" for field in where_fields),
    )
    if order_by:
        sql += " ORDER BY " + ", ".join(quote(name) for name in order_by)
    with connection.cursor() as cursor:
        cursor.execute(sql, _prepare(where_fields, list(where.values()), connection))
        rows = cursor.fetchall()
    objects = []
    for row in rows:
        values = []
        for value, (column, chain) in zip(row, converters, strict=True):
            for convert in chain:
                value = convert(value, column, connection)
            values.append(value)
        objects.append(model.from_db(using, attnames, values))
    return objects


Scalar = str | int | uuid.UUID
Value = Scalar | Sequence[Scalar]
_SCALARS = (str, int, uuid.UUID)


class CompiledQuery:
    """A read built by the ORM once per shape, then run again with other values.

    Building and compiling a queryset costs more than running a small indexed query (for
    the inbox page on PostgreSQL: 0.5 ms of Python against 0.25 ms in the database).
    ``build`` makes the queryset (a ``values_list``) from a mapping of named values, each
    a string, an integer, a UUID, or a list of them. The first call of a shape runs
    ``build`` with a placeholder for every value, compiles it, and keeps its SQL with the
    position of each value among the parameters; later calls of that shape put their own
    values there and run the SQL. Rows come back through the backend's and the fields'
    converters, as from the ORM, as named tuples of the selected fields.

    Only values compared whole (``exact``, ``in``) with a column of their own type can be
    placeholders: strings and integers reach the database as they are, and UUIDs as
    themselves or as their hex digits, as the backend wants them. A build whose SQL
    carries a placeholder any other way (inside a ``LIKE`` pattern, or turned into text)
    is not kept: that shape runs through the ORM every time. ``build`` must not branch
    on the values themselves: what changes the SQL (a value being None, the length of a
    list, a limit) belongs in the shape key.
    """

    def __init__(self, model: type[models.Model], size: int = 256) -> None:
        self.model = model
        self.size = size
        self._compiled: dict[Hashable, _Compiled | None] = {}
        _ALL.add(self)
        self._marker = f"\x00{uuid.uuid4().hex}:"
        # Integer placeholders: numbers no query of ours has among its constants.
        self._first_number = 1_000_000_000 + secrets.randbelow(500_000_000)

    def run(
        self,
        shape: Hashable,
        values: Mapping[str, Value],
        build: Callable[[Mapping[str, Value]], QuerySet],
    ) -> list[Any]:
        using = router.db_for_read(self.model)
        kinds = tuple((name, _kinds(value)) for name, value in sorted(values.items()))
        key = (shape, using, kinds)
        compiled = self._compiled.get(key, _MISSING)
        if compiled is _MISSING:
            compiled = self._compile(using, values, build)
            if len(self._compiled) >= self.size:
                self._compiled.clear()
            self._compiled[key] = compiled
        if compiled is None:
            queryset = build(values).using(using)
            row = _row_class(tuple(queryset.query.values_select))
            return [row._make(item) for item in queryset]
        return compiled.run(values)

    def _compile(
        self, using: str, values: Mapping[str, Value], build: Callable[..., QuerySet]
    ) -> _Compiled | None:
        # What each placeholder may become among the parameters: (name, index, encoding).
        slots: dict[tuple[type, Any], tuple[str, int | None, Any]] = {}
        texts = [self._marker]  # what must not be seen anywhere else

        def slot(name: str, index: int | None, value: Scalar) -> Scalar:
            placeholder: Scalar
            if isinstance(value, str):
                placeholder = f"{self._marker}{name}:{index}"
                slots[str, placeholder] = (name, index, "same")
            elif isinstance(value, uuid.UUID):
                placeholder = uuid.uuid4()
                slots[uuid.UUID, placeholder] = (name, index, "same")
                slots[str, placeholder.hex] = (name, index, "hex")
                texts.extend((placeholder.hex, str(placeholder)))
            else:
                placeholder = self._first_number + len(slots)
                slots[int, placeholder] = (name, index, "same")
                texts.append(str(placeholder))
            return placeholder

        placeholders: dict[str, Value] = {
            name: (
                slot(name, None, value)
                if isinstance(value, _SCALARS)
                else [slot(name, i, item) for i, item in enumerate(value)]
            )
            for name, value in values.items()
        }
        queryset = build(placeholders).using(using)
        compiler = queryset.query.get_compiler(using)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return None  # nothing can match (an empty list): the ORM knows without asking
        template: list[tuple[bool, Any]] = []
        used = set()
        for param in params:
            found = _find(slots, param)
            if found is not None:
                template.append((True, found))
                used.add(found[:2])
            elif any(text in str(param) for text in texts):
                return None  # the value went into a larger parameter
            else:
                template.append((False, param))
        if any(text in sql for text in texts):
            return None  # the value went into the SQL itself
        numbers = {found[:2] for (kind, _value), found in slots.items() if kind is int}
        if not numbers <= used:
            # An integer can drop a condition by its value alone (one out of a field's
            # range matches nothing, or everything): its SQL would not fit other values.
            return None
        expressions = [column for column, _sql, _alias in compiler.select[: compiler.col_count]]
        names = list(queryset.query.values_select)
        if len(names) != len(expressions):
            return None  # annotations or extra columns: not a plain values_list
        return _Compiled(using, sql, template, expressions, _row_class(tuple(names)))


def _find(slots: dict[tuple[type, Any], tuple[str, int | None, Any]], param: Any) -> Any:
    """The slot that ``param`` fills, with how to encode a value for it, or None."""
    if isinstance(param, bool):
        return None
    if isinstance(param, int):
        found = slots.get((int, int(param)))
        if found is not None and type(param) is not int:
            # The backend wraps integers in a type of its own (psycopg's Int4, say).
            return (*found[:2], type(param))
        return found
    for kind in (str, uuid.UUID):
        if isinstance(param, kind):
            return slots.get((kind, param))
    return None


def _kinds(value: Value) -> type | tuple[type, ...]:
    """The type of a value, or of each item of a list (what the SQL's shape depends on)."""
    if type(value) in _SCALARS:
        return type(value)
    if isinstance(value, list | tuple) and all(type(item) in _SCALARS for item in value):
        return tuple(type(item) for item in value)
    raise TypeError(
        f"A compiled query takes strings, integers, UUIDs and lists of them, not {value!r}"
    )


_MISSING: Any = object()
_ALL: weakref.WeakSet[CompiledQuery] = weakref.WeakSet()


@receiver(setting_changed, dispatch_uid="workflows_app.engine.statements.forget_compiled")
def _forget_compiled(*, setting: str, **kwargs: Any) -> None:
    """Compiled SQL and converters depend on these settings (tests change them)."""
    if setting in ("USE_TZ", "TIME_ZONE", "DATABASES", "DATABASE_ROUTERS"):
        for compiled in list(_ALL):
            compiled._compiled.clear()


@cache
def _row_class(names: tuple[str, ...]) -> type:
    return collections.namedtuple("Row", names, rename=True)  # type: ignore[misc]


class _Compiled:
    def __init__(
        self,
        using: str,
        sql: str,
        template: list[tuple[bool, Any]],
        expressions: list[Any],
        row: type,
    ) -> None:
        self.using = using
        self.sql = sql
        self.template = template
        self.expressions = expressions
        self.row = row
        connection = connections[using]
        chains = [
            connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
            for expression in expressions
        ]
        self.fast_timestamps = _fast_timestamp_loader(connection)
        if self.fast_timestamps is not None:
            for expression, chain in zip(expressions, chains, strict=True):
                if expression.output_field.get_internal_type() == "DateTimeField":
                    chain.insert(0, _in_connection_timezone)
        self.converters = [
            (index, expression, chain)
            for index, (expression, chain) in enumerate(zip(expressions, chains, strict=True))
            if chain
        ]

    def run(self, values: Mapping[str, Value]) -> list[Any]:
        params = []
        for is_slot, slot in self.template:
            if not is_slot:
                params.append(slot)
                continue
            name, index, encoding = slot
            value = values[name] if index is None else values[name][index]
            if encoding == "hex":
                value = value.hex
            elif encoding != "same":
                value = encoding(value)
            params.append(value)
        connection = connections[self.using]
        with connection.cursor() as cursor:
            if self.fast_timestamps is not None:
                cursor.cursor.adapters.register_loader("timestamptz", self.fast_timestamps)
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if not self.converters:
            return [self.row._make(row) for row in rows]
        converted = []
        for row in rows:
            row = list(row)
            for index, expression, chain in self.converters:
                value = row[index]
                for convert in chain:
                    value = convert(value, expression, connection)
                row[index] = value
            converted.append(self.row._make(row))
        return converted


def _fast_timestamp_loader(connection: Any) -> type | None:
    """psycopg's compiled loader of ``timestamptz`` values, when the connection is
    PostgreSQL's through psycopg 3 with its C extension; else None.

    Django reads ``timestamptz`` with a loader of its own that derives from psycopg's
    pure-Python one (Django ticket #36960): for a page of 50 tasks, that is a tenth of
    the request. The compiled queries' cursors use psycopg's C loader instead, and
    :func:`_in_connection_timezone` then does what Django's loader does after parsing.
    """
    if connection.vendor != "postgresql":
        return None
    try:
        import psycopg
        from psycopg.pq import Format
    except ImportError:  # psycopg2
        return None
    oid = psycopg.postgres.types["timestamptz"].oid
    loader = psycopg.adapters.get_loader(oid, Format.TEXT)
    if loader is None or not loader.__module__.startswith(("psycopg_binary", "psycopg_c")):
        return None  # the pure-Python loader: nothing to gain
    return loader


def _in_connection_timezone(value: Any, expression: Any, connection: Any) -> Any:
    """Give a ``timestamptz`` value the connection's time zone (None: naive), as Django's
    loader does."""
    if value is None:
        return None
    return value.replace(tzinfo=connection.timezone)
