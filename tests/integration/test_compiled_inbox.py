"""The inbox page compiled once per shape (``compiled.CompiledQuery``) answers exactly what
the ORM answers, for every filter, caller and tenant, on every database."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Q
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.integration.helpers import human, marker, workflow
from workflows_app import Edge
from workflows_app.core import four_eyes
from workflows_app.engine.compiled import CompiledQuery, PlaceholderError
from workflows_app.models import HumanTaskModel, StepExecutionModel
from workflows_app.services import TASK_ORDERINGS, Actor, NotAllowedError, TaskFilter, get_service

pytestmark = pytest.mark.django_db

EXCLUDED = ([], ["ann"], [], ["bob", "carl"], ["anne"], ["ann%"])

COLUMNS = (
    "id",
    "instance_id",
    "title",
    "assignee_id",
    "assignee_group",
    "status",
    "due_at",
    "created_at",
    "form_schema",
    "tenant_id",
    "priority",
    "activity",
)


@pytest.fixture
def tasks(engine) -> list[HumanTaskModel]:
    """Tasks of every kind: assigned or not, in a group or none, of two tenants or none,
    pending or completed, due or not, with JSON in their columns."""
    wf = workflow([marker("A"), human("H", title="Check")], [Edge("A", "H")], name="inbox_mix")
    instance = engine.start_workflow_sync(wf, {})
    execution = StepExecutionModel.objects.filter(instance_id=instance.id).first()
    now = timezone.now()
    rows = []
    combinations = itertools.product(
        (None, "ann", "bob"),  # assignee
        (None, "red", "blue", "green"),  # group
        (None, "acme", "globex"),  # tenant
        ("pending", "completed"),
    )
    for n, (assignee, group, tenant, status) in enumerate(combinations):
        rows.append(
            HumanTaskModel(
                instance_id=instance.id,
                step_execution_id=execution.pk,
                step_name="H",
                title=f"Task {n}",
                assignee_id=assignee,
                assignee_group=group,
                tenant_id=tenant,
                status=status,
                # (a pending task with completed_by, as no engine path leaves one, tells
                # apart the rules of the pending inbox and of the others)
                completed_by="ann" if n % 3 else None,
                due_at=now + timedelta(hours=n % 7 - 3) if n % 4 else None,
                priority=n % 3,
                form_schema={"type": "object", "n": n} if n % 2 else None,
                activity=[{"action": "claimed", "by": "ann"}] if n % 5 == 0 else [],
                # four-eyes: some tasks exclude ann, or bob, or a user whose id starts alike
                excluded_users=four_eyes.encode(EXCLUDED[n % len(EXCLUDED)]),
            )
        )
    HumanTaskModel.objects.filter(instance_id=instance.id).delete()
    return HumanTaskModel.objects.bulk_create(rows)


def _actor(user_id="ann", groups=(), tenant_id=None, scoped=False, perms=()) -> Actor:
    return Actor(
        user_id=user_id,
        groups=frozenset(groups),
        tenant_id=tenant_id,
        scoped=scoped,
        has_perm=lambda codename: codename in perms,
    )


def _by_the_orm(actor: Actor, query: TaskFilter, limit: int, offset: int) -> list[tuple]:
    rows = get_service().inbox_rows(actor, query).values_list(*COLUMNS)
    return [tuple(row) for row in rows[offset : offset + limit]]


def _page(actor: Actor, query: TaskFilter, limit: int, offset: int) -> list:
    return get_service().inbox(
        actor, query, limit=limit, offset=offset, count=False, columns=COLUMNS
    )[0]


def _compiled(actor: Actor, query: TaskFilter, limit: int, offset: int) -> list[tuple]:
    return [tuple(row) for row in _page(actor, query, limit, offset)]


ACTORS = [
    _actor(),
    _actor("bob", groups=["red"]),
    _actor("ann", groups=["red", "blue", "green"]),
    _actor("cy", groups=["blue"], tenant_id="acme", scoped=True),
    _actor("ann", groups=["red", "green"], tenant_id="globex", scoped=True),
    _actor("dee", scoped=True),  # tenancy on, no tenant: rows without one
    _actor("eve", groups=["red"], perms=["view_humantaskmodel"]),
]

QUERIES = [
    TaskFilter(),
    TaskFilter(status=None),
    TaskFilter(status="completed"),
    TaskFilter(scope="assigned"),
    TaskFilter(scope="groups", status=None),
    TaskFilter(assignee_group="red"),
    TaskFilter(assignee_id="ann", status=None),
    TaskFilter(workflow_name="inbox_mix"),
    TaskFilter(workflow_name="another"),
    *[TaskFilter(ordering=ordering) for ordering in TASK_ORDERINGS],
]


@pytest.mark.parametrize("query", QUERIES, ids=repr)
def test_compiled_page__the_orms_answer(tasks, query) -> None:
    for actor, (limit, offset) in itertools.product(ACTORS, [(50, 0), (5, 0), (5, 5), (1, 40)]):
        assert _compiled(actor, query, limit, offset) == _by_the_orm(actor, query, limit, offset), (
            actor,
            limit,
            offset,
        )


def test_compiled_page__scope_all(tasks) -> None:
    operator = _actor("eve", perms=["view_humantaskmodel"])
    assert _compiled(operator, TaskFilter(scope="all"), 100, 0) == _by_the_orm(
        operator, TaskFilter(scope="all"), 100, 0
    )
    assert len(_compiled(operator, TaskFilter(scope="all"), 100, 0)) == 36  # every pending task


def test_compiled_page__permission_checked_on_every_call(tasks) -> None:
    """The SQL of a shape is kept; the rule about who may list every task is not."""
    operator = _actor("eve", perms=["view_humantaskmodel"])
    member = _actor("ann")
    assert _compiled(operator, TaskFilter(scope="all"), 10, 0)

    with pytest.raises(NotAllowedError):
        _compiled(member, TaskFilter(scope="all"), 10, 0)


def test_compiled_page__same_shape_other_values__no_leak(tasks) -> None:
    red = _actor("bob", groups=["red"], tenant_id="acme", scoped=True)
    blue = _actor("ann", groups=["blue"], tenant_id="globex", scoped=True)
    first = _page(red, TaskFilter(), 50, 0)
    second = _page(blue, TaskFilter(), 50, 0)

    assert {row.assignee_group for row in first if row.assignee_id is None} == {"red", None}
    assert {row.assignee_id for row in first} == {"bob", None}
    assert {row.tenant_id for row in first} == {"acme"}
    assert {row.assignee_group for row in second if row.assignee_id is None} == {"blue", None}
    assert {row.assignee_id for row in second} == {"ann", None}
    assert {row.tenant_id for row in second} == {"globex"}


def test_compiled_page__one_query_and_typed_values(tasks) -> None:
    actor = _actor("ann", groups=["red", "blue"])
    _compiled(actor, TaskFilter(status=None), 50, 0)  # compiles

    with CaptureQueriesContext(connection) as queries:
        page, _ = get_service().inbox(
            actor, TaskFilter(status=None), limit=50, count=False, columns=COLUMNS
        )

    assert len(queries) == 1
    with_schema = next(row for row in page if row.form_schema is not None)
    assert isinstance(with_schema.form_schema, dict)
    assert with_schema.due_at is None or with_schema.due_at.tzinfo is not None
    assert all(isinstance(row.activity, list) for row in page)
    # Datetimes as the ORM gives them: aware, in the same time zone object.
    [orm_row] = HumanTaskModel.objects.filter(pk=page[0].id).values_list("created_at")
    assert page[0].created_at.tzinfo is orm_row[0].tzinfo is not None
    assert page[0].created_at.isoformat() == orm_row[0].isoformat()


def test_compiled_page__with_count(tasks) -> None:
    actor = _actor("ann", groups=["red", "blue", "green"])
    page, total = get_service().inbox(actor, TaskFilter(), limit=3, count=True, columns=COLUMNS)
    assert len(page) == 3
    assert total == get_service().inbox_rows(actor, TaskFilter()).count()


def test_filters_with_dates_or_ids__built_by_the_orm(tasks) -> None:
    """Filters that are not plain strings are not compiled ahead; they still answer right."""
    actor = _actor("ann", groups=["red", "blue", "green"])
    instance_id = tasks[0].instance_id
    for query in (
        TaskFilter(overdue=True),
        TaskFilter(overdue=False),
        TaskFilter(instance_id=instance_id),
        TaskFilter(due_within=timedelta(hours=2)),
        TaskFilter(due_before=timezone.now()),
    ):
        assert _compiled(actor, query, 50, 0) == _by_the_orm(actor, query, 50, 0), query


# -- the service's reads are compiled ---------------------------------------------------


def test_service_reads__compiled_not_left_to_the_orm(tasks) -> None:
    """Every shape the inbox, a task read and an instance's pending tasks use is kept as
    SQL (or known to match nothing), on every database: none runs through the ORM."""
    from workflows_app import services

    for cache in (services._INBOX_PAGES, services._TASK_READS):
        cache.clear()
    for actor, query in itertools.product(ACTORS, QUERIES):
        _page(actor, query, 5, 5)
    for actor in ACTORS:
        get_service().pending_tasks(actor, tasks[0].instance_id)
        try:
            get_service().get_task(actor, tasks[0].pk)
        except KeyError:
            pass  # not one of the actor's
    kept = [*services._INBOX_PAGES._compiled.values(), *services._TASK_READS._compiled.values()]
    assert kept and None not in kept


def test_compiled_page__one_sql_for_every_offset(tasks) -> None:
    """The page's offset and limit are values: paging through the inbox compiles one
    shape, and each page is the ORM's."""
    from workflows_app import services

    services._INBOX_PAGES.clear()
    actor = _actor("ann", groups=["red", "blue", "green"])
    for offset in range(0, 40, 3):
        for limit in (1, 3, 50):
            assert _compiled(actor, TaskFilter(status=None), limit, offset) == _by_the_orm(
                actor, TaskFilter(status=None), limit, offset
            ), (limit, offset)
    assert len(services._INBOX_PAGES) == 1


# -- CompiledQuery itself -------------------------------------------------------------


def _titles(shape, params):
    return HumanTaskModel.objects.filter(title=params["title"]).values_list("title")


def _pending_with_status_branch(shape, params):
    rows = HumanTaskModel.objects.all()
    if params["status"] == "pending":  # a decision taken from a value: refused
        rows = rows.filter(due_at__isnull=False)
    return rows.filter(status=params["status"]).values_list("title")


def test_compiled_query__a_build_that_branches_on_a_value__fails(tasks) -> None:
    """``build`` gets placeholders, never the caller's values, and a placeholder answers
    no question: a build that decides anything from a value fails at its first call,
    whatever the value, instead of keeping SQL that fits that value only."""
    compiled = CompiledQuery(HumanTaskModel)
    for status in ("pending", "completed"):
        with pytest.raises(PlaceholderError):
            compiled.run(_pending_with_status_branch, "s", {"status": status})


@pytest.mark.parametrize(
    "decide",
    [
        lambda value: bool(value),
        lambda value: value in ("ann", "bob"),
        lambda value: value != "ann",
        lambda value: value < "m",
        lambda value: len(value) > 3,
        lambda value: value.startswith("a"),
        lambda value: "a" in value,
        lambda value: value[0],
    ],
)
def test_compiled_query__a_placeholder_answers_no_question(tasks, decide) -> None:
    compiled = CompiledQuery(HumanTaskModel)
    with pytest.raises(PlaceholderError):
        compiled.run(_deciding, decide, {"name": "ann"})


def _deciding(shape, params):
    shape(params["name"])  # (the shape is the decision to try)
    return HumanTaskModel.objects.filter(title=params["name"]).values_list("title")


def test_compiled_query__a_build_with_a_closure__refused(tasks) -> None:
    """What a build needs besides the placeholders is its shape: a closure (or a default
    argument) could hand it the caller's values, so it is refused."""
    compiled = CompiledQuery(HumanTaskModel)
    title = "Task 1"

    def closure(shape, params):
        return HumanTaskModel.objects.filter(title=title).values_list("title")

    def defaults(shape, params, title=title):
        return HumanTaskModel.objects.filter(title=title).values_list("title")

    for build in (closure, defaults, functools.partial(_titles)):
        with pytest.raises(TypeError, match="plain function"):
            compiled.run(build, "s", {"title": "Task 1"})
    assert compiled.run(_titles, "s", {"title": "Task 1"}) == [("Task 1",)]


def _due_before_now(shape, params):
    rows = HumanTaskModel.objects.filter(title=params["title"], due_at__lt=timezone.now())
    return rows.values_list("title")


def test_compiled_query__a_build_that_reads_the_clock__refused(tasks) -> None:
    """Each shape is built twice: SQL that differs between the two (a time taken inside
    the build) cannot be kept for other calls."""
    compiled = CompiledQuery(HumanTaskModel)
    with pytest.raises(TypeError, match="two SQL texts"):
        compiled.run(_due_before_now, "s", {"title": "Task 1"})


def _title_like(shape, params):
    return HumanTaskModel.objects.filter(title__icontains=params["text"]).values_list("title")


def test_compiled_query__value_inside_a_pattern__not_kept(tasks) -> None:
    """``icontains`` wraps the value in a LIKE pattern: that shape runs through the ORM."""
    compiled = CompiledQuery(HumanTaskModel)
    assert sorted(compiled.run(_title_like, "like", {"text": "task 1"}))[:2] == [
        ("Task 1",),
        ("Task 10",),
    ]
    assert sorted(compiled.run(_title_like, "like", {"text": "task 2"}))[:2] == [
        ("Task 2",),
        ("Task 20",),
    ]
    assert list(compiled._compiled.values()) == [None]


def _groups_in(shape, params):
    rows = HumanTaskModel.objects.filter(assignee_group__in=params["groups"])
    return rows.values_list("assignee_group").distinct().order_by("assignee_group")


def test_compiled_query__lists_of_each_length(tasks) -> None:
    compiled = CompiledQuery(HumanTaskModel)
    assert compiled.run(_groups_in, "in", {"groups": ["red"]}) == [("red",)]
    assert compiled.run(_groups_in, "in", {"groups": ["blue", "red"]}) == [("blue",), ("red",)]
    assert compiled.run(_groups_in, "in", {"groups": ["green"]}) == [("green",)]
    assert len(compiled) == 2  # one per list length


def test_compiled_query__an_empty_list__no_query(tasks) -> None:
    compiled = CompiledQuery(HumanTaskModel)
    assert compiled.run(_groups_in, "in", {"groups": []}) == []
    with CaptureQueriesContext(connection) as queries:
        assert compiled.run(_groups_in, "in", {"groups": []}) == []
    assert len(queries) == 0


def test_compiled_query__forgets_the_least_recently_used_shape(tasks) -> None:
    """A full cache forgets one shape, the one used longest ago, not all of them."""
    compiled = CompiledQuery(HumanTaskModel, size=3)
    for n in range(3):
        assert compiled.run(_titles, ("shape", n), {"title": f"Task {n}"}) == [(f"Task {n}",)]
    compiled.run(_titles, ("shape", 0), {"title": "Task 0"})  # used again: the newest
    compiled.run(_titles, ("shape", 3), {"title": "Task 3"})  # the oldest (1) goes
    assert [key[1] for key in compiled._compiled] == [("shape", 2), ("shape", 0), ("shape", 3)]
    with CaptureQueriesContext(connection) as queries:
        assert compiled.run(_titles, ("shape", 0), {"title": "Task 30"}) == [("Task 30",)]
    assert len(queries) == 1 and len(compiled) == 3


def test_actor_stand_in__keeps_every_field() -> None:
    """The compiled task reads build their actor from placeholders (``services._stand_in``):
    if Actor grows a field that the task rules read, the stand-in and the shape key must
    learn about it (this test says so)."""
    assert [field.name for field in dataclasses.fields(Actor)] == [
        "user_id",
        "groups",
        "tenant_id",
        "scoped",
        "has_perm",
    ]


def _priority(shape, params):
    rows = HumanTaskModel.objects.filter(priority=params["priority"], status="pending")
    return rows.values_list("priority").distinct()


def test_compiled_query__integers(tasks) -> None:
    compiled = CompiledQuery(HumanTaskModel)
    for priority in (0, 1, 2, 7):
        assert compiled.run(_priority, "p", {"priority": priority}) == (
            [(priority,)] if priority < 3 else []
        )
    assert list(compiled._compiled.values()) != [None]


def test_compiled_query__integer_turned_into_text__not_kept(tasks) -> None:
    compiled = CompiledQuery(HumanTaskModel)
    assert compiled.run(_titles, "t", {"title": 5}) == []  # "5" is no title
    assert list(compiled._compiled.values()) == [None]


@pytest.mark.parametrize("value", [None, True, 1.5, b"x", ["a", None]])
def test_compiled_query__other_values__type_error(value) -> None:
    compiled = CompiledQuery(HumanTaskModel)
    with pytest.raises(TypeError):
        compiled.run(_titles, "x", {"value": value})


def test_compiled_page__naive_datetimes_without_use_tz(tasks) -> None:
    """With USE_TZ off the ORM reads naive datetimes; so do compiled queries."""
    actor = _actor("ann", groups=["red", "blue"])
    with override_settings(USE_TZ=False):
        compiled = _compiled(actor, TaskFilter(status=None), 50, 0)
        orm = _by_the_orm(actor, TaskFilter(status=None), 50, 0)

    assert compiled == orm
    created = [row[COLUMNS.index("created_at")] for row in compiled]
    assert created and all(value.tzinfo is None for value in created)


def _title_and_status_like(shape, params):
    rows = HumanTaskModel.objects.filter(title__icontains=params["text"])
    return rows.values_list("title", "status")


def test_compiled_query__rows_kept_out__still_named(tasks) -> None:
    """A shape that runs through the ORM answers named rows too, as callers read them."""
    compiled = CompiledQuery(HumanTaskModel)
    rows = compiled.run(_title_and_status_like, "like", {"text": "task 1"})
    assert list(compiled._compiled.values()) == [None]
    assert rows and all(row.title.startswith("Task 1") for row in rows)


def _small_priority_below(shape, params):
    rows = HumanTaskModel.objects.filter(Q(priority__lt=params["n"]) | Q(title="none"))
    return rows.values_list("priority").order_by("priority").distinct()


def test_compiled_query__integer_placeholders_fit_a_small_integer_field(tasks) -> None:
    """Django drops a condition whose integer is out of its field's range; the
    placeholders are within every integer field's range, so the SQL keeps it."""
    compiled = CompiledQuery(HumanTaskModel)
    with mock.patch.object(
        HumanTaskModel._meta.get_field("priority"),
        "get_internal_type",
        return_value="SmallIntegerField",
    ):
        first = compiled.run(_small_priority_below, "small", {"n": 1})
        second = compiled.run(_small_priority_below, "small", {"n": 2})
    assert first == [(0,)]
    assert second == [(0,), (1,)]
    assert list(compiled._compiled.values()) != [None]


def test_the_inbox_does_not_offer_a_task_to_a_user_it_excludes(tasks) -> None:
    """Four-eyes: a task whose step excludes a user is not in their inbox (in any scope
    but "all"), compiled or not; "anne" or "ann%" excluded does not hide it from "ann"."""
    for actor in ACTORS:
        for scope in ("offered", "assigned", "groups"):
            query = TaskFilter(scope=scope, status=None)
            page = _compiled(actor, query, 200, 0)
            assert page == _by_the_orm(actor, query, 200, 0)
            shown = {row[0] for row in page}
            excluded = {
                t.pk for t in tasks if four_eyes.is_excluded(t.excluded_users, actor.user_id)
            }
            assert not shown & excluded
    ann = _actor("ann", groups=["red", "blue", "green"])
    # tasks assigned to ann that a rule excludes her from: not in her "assigned" list
    mine = [t.pk for t in tasks if t.assignee_id == "ann" and t.excluded_users == "\nann\n"]
    assigned = {row[0] for row in _compiled(ann, TaskFilter(scope="assigned", status=None), 200, 0)}
    assert mine and not assigned & set(mine)
    shown = {row[0] for row in _compiled(ann, TaskFilter(status=None), 200, 0)}
    alike = [t.pk for t in tasks if t.excluded_users in ("\nanne\n", "\nann%\n")]
    assert shown & set(alike)  # offered to ann: not excluded by a look-alike id
