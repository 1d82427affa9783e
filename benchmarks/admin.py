"""The admin's task inbox over 100,000 pending tasks (PostgreSQL only), in process.

The tasks are filled as for the REST API benchmark (:func:`benchmarks.api._fill_tasks`: 100
groups, a tenth assigned to a user, a third with a due date; multi-instance siblings, some
completed; four-eyes exclusions; the member stands in for a few users, and 50,000 other
substitutions, active and expired). Two staff users open the
inbox changelist ``/admin/workflows_app/humantaskmodel/`` through Django's test ``Client``:
a member of 10 of the 100 groups (its default "offered" scope: 10,000 tasks) and an
operator with ``view_humantaskmodel`` (``scope=all``: every task). For each page size
(``HumanTaskAdmin.list_per_page``) it prints the server time of a request (p50, p95: the
test client calls the WSGI handler, so this is the whole Django request, middleware and
template included) and the SQL queries the request issues; then the same for a task's
page. The target: at most 150 ms, and the same few queries whatever the page size.
"""

from __future__ import annotations

import re
import statistics
import time
from typing import Any
from unittest import mock

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from benchmarks.api import GROUPS, TASKS, _data_summary, _fill_tasks, _user

PAGE_SIZES = (10, 50, 100)
ROUNDS = 60
WARM_UP = 5
TARGET_MS = 150.0


def _client(user: Any) -> Client:
    """A test client logged in as ``user``, on a host the demo allows."""
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    return client


def _render(client: Client, path: str, rounds: int = ROUNDS) -> tuple[list[float], list[Any], str]:
    """GET ``path`` ``rounds`` times; return the sorted times (ms), the queries of one
    request, and its HTML."""
    for _ in range(WARM_UP):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
    timings = []
    for _ in range(rounds):
        began = time.perf_counter()
        answer = client.get(path)
        timings.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(path)
    return sorted(timings), list(queries.captured_queries), answer.content.decode()


def _figures(timings: list[float]) -> tuple[float, float]:
    return statistics.median(timings), timings[max(int(len(timings) * 0.95) - 1, 0)]


def admin_inbox(args: Any) -> None:
    if connection.vendor != "postgresql":
        print("admin task inbox over 100,000 tasks: PostgreSQL only, skipped", flush=True)
        return
    # As in production: DEBUG off (with it on, Django keeps every query's SQL).
    with override_settings(DEBUG=False):
        _admin_inbox()


def _admin_inbox() -> None:
    from workflows_app.admin.tasks import HumanTaskAdmin
    from workflows_app.models import HumanTaskModel

    started = time.perf_counter()
    _fill_tasks(TASKS, member="bench_admin_member")
    print(f"filled {TASKS:,} pending tasks in {time.perf_counter() - started:.1f} s", flush=True)
    print(f"  with {_data_summary('bench_admin_member')}", flush=True)
    member = _user("bench_admin_member", [f"group{n}" for n in range(10)], [])
    operator = _user("bench_admin_operator", [], ["view_humantaskmodel"])
    for user in (member, operator):
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    inbox = reverse("admin:workflows_app_humantaskmodel_changelist")
    slowest: list[tuple[float, str]] = []
    plans: dict[str, list[Any]] = {}
    for label, user, path in (
        (f"member of 10 of {GROUPS} groups", member, inbox),
        ("operator, scope=all", operator, inbox + "?scope=all"),
    ):
        client = _client(user)
        for size in PAGE_SIZES:
            with mock.patch.object(HumanTaskAdmin, "list_per_page", size):
                timings, queries, html = _render(client, path)
            shown = html.count('class="field-task"')
            assert shown == size, (label, size, shown)
            p50, p95 = _figures(timings)
            slowest.append((p95, f"{label}, {size} per page"))
            plans[f"{label}, {size} per page"] = queries
            print(
                f"admin inbox ({label}, {size} of {TASKS:,} pending per page): "
                f"p50 {p50:.1f} ms, p95 {p95:.1f} ms (min {timings[0]:.1f}), "
                f"{len(queries)} SQL queries",
                flush=True,
            )
    task = HumanTaskModel.objects.filter(assignee_group="group1", assignee_id=None).first()
    timings, queries, html = _render(
        _client(member), reverse("admin:workflows_app_humantaskmodel_change", args=[task.pk])
    )
    assert 'id="wf-complete-form"' in html
    p50, p95 = _figures(timings)
    print(
        f"admin task page (member, a group task): p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
        f"{len(queries)} SQL queries",
        flush=True,
    )
    worst, where = max(slowest)
    verdict = "met" if worst <= TARGET_MS else "MISSED"
    print(
        f"target {TARGET_MS:.0f} ms per inbox page: {verdict} (slowest p95 {worst:.1f} ms, {where})",
        flush=True,
    )
    # Where the database time goes: the plans of the largest page's queries on the task table
    # (the paginator's COUNT and the page), the select list shortened.
    for key, queries in plans.items():
        if not key.endswith(f", {PAGE_SIZES[-1]} per page"):
            continue
        for query in queries:
            if "workflow_human_tasks" not in query["sql"]:
                continue
            sql = re.sub(
                r'^SELECT "workflow_human_tasks"\."id", .+? FROM', "SELECT ... FROM", query["sql"]
            )
            print(f"-- {key}: {sql}", flush=True)
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN ANALYZE " + query["sql"])
                for (line,) in cursor.fetchall():
                    print(f"   {line}", flush=True)


BENCHMARKS = [("admin_inbox", admin_inbox)]
