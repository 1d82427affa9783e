"""Reads that the ORM builds once per shape, then run again with other values.

Building and compiling a queryset costs more than running a small indexed query (for the
inbox page on PostgreSQL: 0.5 ms of Python against 0.25 ms in the database). A
:class:`CompiledQuery` has the ORM build a read once per *shape*, keeps its SQL, and runs
that SQL with each caller's *values*.

The safety of that is structural:

- ``build(shape, params)`` is a plain function (no closure, no defaults, no bound
  ``self``): it sees the shape, which keys the SQL, and ``params``, which holds a
  placeholder for each value, never the value. A placeholder refuses to be compared,
  tested for truth, measured or searched (:class:`PlaceholderError`), so a build that
  branches on a value fails at its first call instead of keeping SQL that fits one value.
  (A shape whose SQL cannot be kept runs through the ORM, with the values, each time:
  nothing is reused there.)
- Each shape is built twice, with two sets of placeholders; two different SQL texts or
  constants mean the build read something besides its arguments (the clock, say), and
  the shape is refused with a ``TypeError``.
- A page's ``offset`` and ``limit`` are values bound into the SQL, not part of the shape.
- At most ``size`` shapes are kept; the least recently used is forgotten first.
"""

from __future__ import annotations

import collections
import re
import secrets
import threading
import types
import uuid
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from functools import cache
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.core.signals import setting_changed
from django.db import connections, models, router
from django.db.models import QuerySet
from django.dispatch import receiver

__all__ = ["Build", "CompiledQuery", "PlaceholderError"]

Scalar = str | int | uuid.UUID
Value = Scalar | Sequence[Scalar]
Build = Callable[[Any, Mapping[str, Any]], QuerySet]
"""``build(shape, params)``: the queryset (a ``values_list``) of a shape."""

_SCALARS = (str, int, uuid.UUID)


class PlaceholderError(TypeError):
    """A compiled query's ``build`` looked at a value (it got a placeholder): what decides
    the SQL belongs in the shape."""


class CompiledQuery:
    """Reads of ``model`` compiled once per shape, at most ``size`` shapes at a time.

    :meth:`run` takes the build, the shape (hashable: everything that changes the SQL
    besides the values) and the values, each a string, an integer, a UUID, or a list of
    them (the length of a list is part of the shape). Only values compared whole
    (``exact``, ``in``) with a column of their own type can be bound: strings and integers
    reach the database as they are, UUIDs as themselves or as their hex digits, as the
    backend wants them. A shape whose SQL carries a value any other way (inside a
    ``LIKE`` pattern, or turned into text) is not kept: it runs through the ORM, with
    the values, every time. Integers must fit their column (Django's ORM would answer
    "nothing" for one that does not, without asking the database): the caller checks.

    Rows come back through the backend's and the fields' converters, as from the ORM, as
    named tuples of the selected fields.
    """

    def __init__(self, model: type[models.Model], size: int = 256) -> None:
        self.model = model
        self.size = size
        self._compiled: collections.OrderedDict[Hashable, _Compiled | None] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()
        _ALL.add(self)

    def run(
        self,
        build: Build,
        shape: Hashable,
        values: Mapping[str, Value],
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Any]:
        """The rows of ``build(shape, values)``, or of its ``[offset:offset + limit]`` page."""
        if limit is None and offset:
            raise ValueError("an offset needs a limit")
        kinds = tuple((name, _kinds(value)) for name, value in sorted(values.items()))
        key = (build, shape, router.db_for_read(self.model), kinds, limit is None)
        with self._lock:
            compiled = self._compiled.get(key, _MISSING)
            if compiled is not _MISSING:
                self._compiled.move_to_end(key)
        if compiled is _MISSING:
            compiled = _compile(build, shape, values, paged=limit is not None)
            with self._lock:
                self._compiled[key] = compiled
                while len(self._compiled) > self.size:
                    self._compiled.popitem(last=False)  # the least recently used
        if compiled is None:
            queryset = build(shape, values)
            if limit is not None:
                queryset = queryset[offset : offset + limit]
            row = _row_class(tuple(queryset.query.values_select))
            return [row._make(item) for item in queryset]
        return compiled.run(values, limit, offset)

    def clear(self) -> None:
        with self._lock:
            self._compiled.clear()

    def __len__(self) -> int:
        return len(self._compiled)


# -- placeholders ------------------------------------------------------------------------


class _Placeholder:
    """What ``build`` gets in place of a value: it answers no question about itself.

    It may be put in a filter, and sorted among other placeholders (a set of group names
    becomes a sorted list, say); the only comparison it answers is Django's own ``== ""``
    (on Oracle, an empty string means NULL), with False.
    """

    _order: int
    _hash: int  # by name and index: a set of placeholders iterates alike in both rounds

    def __hash__(self) -> int:
        return self._hash

    def _refuse(self, *args: Any) -> Any:
        raise PlaceholderError(
            "A compiled query's build looked at a value: what changes the SQL must be in "
            "its shape, not decided from a value"
        )

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if isinstance(other, _Placeholder) or (type(other) is str and other == ""):
            return False
        return self._refuse()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __lt__(self, other: object) -> bool:
        if isinstance(other, _Placeholder):
            return self._order < other._order
        return self._refuse()

    def __gt__(self, other: object) -> bool:
        if isinstance(other, _Placeholder):
            return self._order > other._order
        return self._refuse()

    def __le__(self, other: object) -> bool:
        return self == other or self < other

    def __ge__(self, other: object) -> bool:
        return self == other or self > other

    __bool__ = __len__ = __contains__ = __getitem__ = _refuse


class _Text(_Placeholder, str):
    __hash__ = _Placeholder.__hash__
    startswith = endswith = lower = upper = casefold = strip = split = _Placeholder._refuse
    isdigit = isalpha = isspace = find = _Placeholder._refuse


class _Number(_Placeholder, int):
    __hash__ = _Placeholder.__hash__


class _Id(_Placeholder, uuid.UUID):
    __hash__ = _Placeholder.__hash__


class _Round:
    """One build of a shape: its placeholders, and where each can turn up among the
    compiled parameters. The two rounds of a shape use different placeholders."""

    def __init__(self, number: int) -> None:
        self.marker = f"\x00Wf{secrets.token_hex(8)}:"
        # Integers within every integer column's range (a SmallIntegerField's too), so
        # that Django drops no condition for a placeholder's sake.
        self.next_number = 10_000 + 10_000 * number
        self.limit = 40_000 + 1_000 * number + secrets.randbelow(1_000)
        self.offset = 50_000 + 1_000 * number + secrets.randbelow(1_000)
        self.by_id: dict[int, tuple[str, int | None, Any]] = {}
        self.by_text: dict[str, tuple[str, int | None, Any]] = {}
        self.by_number: dict[int, tuple[str, int | None, Any]] = {}
        self.texts = [self.marker]  # what must not be seen anywhere else
        self.kept: list[Any] = []  # alive while the round runs, so their ids stay theirs

    def params(self, values: Mapping[str, Value]) -> dict[str, Any]:
        return {
            name: (
                self._placeholder(name, None, value)
                if isinstance(value, _SCALARS)
                else [self._placeholder(name, i, item) for i, item in enumerate(value)]
            )
            for name, value in values.items()
        }

    def _placeholder(self, name: str, index: int | None, value: Scalar) -> Any:
        slot = (name, index, _SAME)
        placeholder: Any
        if isinstance(value, str):
            text = f" {self.marker}{name}:{index} "  # case and spaces: any change shows
            placeholder = _Text(text)
            self.by_text[text] = slot
        elif isinstance(value, uuid.UUID):
            placeholder = _Id(int=uuid.uuid4().int)
            self.by_text[placeholder.hex] = (name, index, _HEX)
            self.texts += [placeholder.hex, str(placeholder)]
        else:
            placeholder = _Number(self.next_number)
            self.by_number[self.next_number] = slot
            self.texts.append(str(self.next_number))
            self.next_number += 1
        object.__setattr__(placeholder, "_order", len(self.kept))
        object.__setattr__(placeholder, "_hash", hash((name, index)))
        self.by_id[id(placeholder)] = slot
        self.kept.append(placeholder)
        return placeholder

    def template(
        self, sql: str, params: Sequence[Any], paged: bool
    ) -> tuple[str, list[tuple]] | None:
        """The SQL with the page's numbers as parameters, and what fills each parameter;
        None when a value went where it cannot be bound."""
        template: list[tuple] = []
        pending = iter(params)
        page = re.compile(rf"%%|%s|\b(?:{self.limit}|{self.offset})\b")

        def replace(match: re.Match[str]) -> str:
            token = match.group()
            if token == "%%":
                return token
            if token == "%s":
                param = next(pending, _MISSING)
                template.append(None if param is _MISSING else self._entry(param))
            else:
                template.append((_PAGE, "limit" if int(token) == self.limit else "offset"))
            return "%s"

        sql = page.sub(replace, sql)
        if next(pending, _MISSING) is not _MISSING or any(entry is None for entry in template):
            return None  # a value went into a larger parameter
        pages = sorted(entry[1] for entry in template if entry[0] == _PAGE)
        if pages != (["limit", "offset"] if paged else []):
            return None  # the page is not where its numbers can be bound
        if any(text in sql for text in self.texts):
            return None  # a value went into the SQL itself
        return sql, template

    def _entry(self, param: Any) -> tuple | None:
        found = self.by_id.get(id(param))
        if found is None and type(param) is str:
            found = self.by_text.get(param)
        elif found is None and isinstance(param, int) and not isinstance(param, bool):
            found = self.by_number.get(int(param))
            if found is not None and type(param) is not int:
                # The backend wraps integers in a type of its own (psycopg's Int4, say).
                found = (*found[:2], type(param))
        if found is not None:
            return (_VALUE, *found)
        if isinstance(param, _Placeholder) or any(text in str(param) for text in self.texts):
            return None
        return (_CONSTANT, param)


_SAME, _HEX = "same", "hex"
_CONSTANT, _VALUE, _PAGE = 0, 1, 2


def _compile(build: Build, shape: Hashable, values: Mapping[str, Value], paged: bool) -> Any:
    """The compiled SQL of a shape; None when it cannot be kept (the ORM runs it)."""
    if (
        not isinstance(build, types.FunctionType)
        or build.__closure__
        or build.__defaults__
        or build.__kwdefaults__
    ):
        raise TypeError(
            f"{build!r}: a compiled query's build is a plain function of (shape, params), "
            "without a closure or defaults: what it needs besides the placeholders goes in "
            "the shape"
        )
    (first, expressions), (second, _) = (
        _build_once(build, shape, values, paged, number) for number in (0, 1)
    )
    if first != second:
        raise TypeError(
            f"{build.__qualname__} built two SQL texts for one shape: it reads something "
            "besides its shape and its placeholders"
        )
    if first is None or first is _EMPTY:
        return first  # not kept (the ORM runs it), or nothing to run
    using, sql, template, names = first
    if len(names) != len(expressions):
        return None  # annotations or extra columns: not a plain values_list
    return _Compiled(using, sql, template, expressions, _row_class(names))


def _build_once(
    build: Build, shape: Hashable, values: Mapping[str, Value], paged: bool, number: int
) -> tuple[Any, list[Any]]:
    """One round: ``(using, sql, template, names)`` (or ``_EMPTY``, or None), and the
    selected expressions."""
    round_ = _Round(number)
    queryset = build(shape, round_.params(values))
    if not isinstance(queryset, QuerySet):
        raise TypeError(f"{build.__qualname__} must return a queryset, not {queryset!r}")
    if paged:
        queryset = queryset[round_.offset : round_.offset + round_.limit]
    using = queryset.db
    compiler = queryset.query.get_compiler(using)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return _EMPTY, []  # nothing can match (an empty list), whatever the values
    found = round_.template(sql, params, paged)
    if found is None:
        return None, []
    expressions = [column for column, _sql, _alias in compiler.select[: compiler.col_count]]
    return (using, *found, tuple(queryset.query.values_select)), expressions


def _kinds(value: Value) -> type | tuple[type, ...]:
    """The type of a value, or of each item of a list (what the SQL's shape depends on)."""
    if type(value) in _SCALARS:
        return type(value)
    if isinstance(value, list | tuple) and all(type(item) in _SCALARS for item in value):
        return tuple(type(item) for item in value)
    raise TypeError(
        f"A compiled query takes strings, integers, UUIDs and lists of them, not {value!r}"
    )


class _Nothing:
    """The compiled form of a shape that matches nothing whatever its values (an empty
    list to be ``in``): no query."""

    def run(self, values: Any, limit: Any, offset: Any) -> list[Any]:
        return []


_MISSING: Any = object()
_EMPTY: Any = _Nothing()
_ALL: weakref.WeakSet[CompiledQuery] = weakref.WeakSet()


@receiver(setting_changed, dispatch_uid="workflows_app.engine.compiled.forget")
def _forget_compiled(*, setting: str, **kwargs: Any) -> None:
    """Compiled SQL and converters depend on these settings (tests change them)."""
    if setting in ("USE_TZ", "TIME_ZONE", "DATABASES", "DATABASE_ROUTERS"):
        for compiled in list(_ALL):
            compiled.clear()


@cache
def _row_class(names: tuple[str, ...]) -> type:
    return collections.namedtuple("Row", names, rename=True)  # type: ignore[misc]


class _Compiled:
    def __init__(
        self,
        using: str,
        sql: str,
        template: list[tuple],
        expressions: list[Any],
        row: type,
    ) -> None:
        self.using = using
        self.sql = sql
        self.template = template
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

    def run(self, values: Mapping[str, Value], limit: int | None, offset: int) -> list[Any]:
        params = []
        for entry in self.template:
            kind = entry[0]
            if kind == _CONSTANT:
                params.append(entry[1])
                continue
            if kind == _PAGE:
                params.append(limit if entry[1] == "limit" else offset)
                continue
            _, name, index, encoding = entry
            value: Any = values[name] if index is None else values[name][index]  # type: ignore[index]
            if encoding == _HEX:
                value = value.hex
            elif encoding != _SAME:
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
