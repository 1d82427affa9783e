"""The task inbox: ``find_pending`` for a user with 10 groups over many task rows (PostgreSQL).

The table is filled with SQL (``generate_series``): mostly completed tasks, 2% pending,
spread over 1,000 groups and 10,000 users; half of the tasks are assigned to a user. With
the inbox's later rules in the data (issue 16): a third of the tasks are one of 3 siblings of
a multi-instance step (``multi_index``/``multi_total``, most of them completed, as the
table's other tasks), a tenth exclude a user (four-eyes), and 50,000 substitutions, active
and expired (:func:`benchmarks.api._fill_substitutions`, for a bench user who stands in for
a few others).
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from django.db import connection

from workflows_app.models import HumanTaskModel

GROUPS = 1000
USERS = 10_000


def _fill(count: int) -> None:
    from benchmarks.api import _fill_substitutions
    from benchmarks.engine import _engine
    from workflows_app.db import PersistentExecutionEngine
    from workflows_app.models import StepExecutionModel

    engine: PersistentExecutionEngine = _engine()
    instance = engine.start_workflow_sync("bench_approval")
    execution = StepExecutionModel.objects.filter(instance_id=instance.id).first()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO workflow_human_tasks (
                id, created_at, updated_at, instance_id, step_execution_id, step_name, title,
                assignee_id, assignee_group, due_at, status, priority, activity,
                multi_index, multi_total, excluded_users
            )
            SELECT
                gen_random_uuid(),
                now() - (n || ' seconds')::interval,
                now(),
                %s, %s, 'approve', 'Approve ' || n,
                CASE WHEN random() < 0.5 THEN 'user' || floor(random() * %s) END,
                'group' || floor(random() * %s),
                CASE WHEN random() < 0.33 THEN now() + (floor(random() * 1000) || ' hours')::interval END,
                CASE WHEN random() < 0.02 THEN 'pending' ELSE 'completed' END,
                0, '[]',
                CASE WHEN n %% 3 = 0 THEN n %% 9 / 3 END,
                CASE WHEN n %% 3 = 0 THEN 3 END,
                CASE WHEN n %% 10 = 0 THEN E'\\nuser' || floor(random() * %s) || E'\\n' ELSE '' END
            FROM generate_series(1, %s) AS n
            """,
            [instance.id, execution.id, USERS, GROUPS, USERS, count],
        )
        _fill_substitutions(cursor, "bench_inbox_user")
        cursor.execute("ANALYZE workflow_substitutions")
        cursor.execute("ANALYZE workflow_human_tasks")


def inbox(args: Any) -> None:
    if connection.vendor != "postgresql":
        print("find_pending over many rows: PostgreSQL only, skipped", flush=True)
        return
    started = time.perf_counter()
    _fill(args.tasks)
    print(f"filled {args.tasks:,} task rows in {time.perf_counter() - started:.1f} s", flush=True)
    rng = random.Random(7)
    timings, sizes = [], []
    for _ in range(300):
        user = f"user{rng.randrange(USERS)}"
        groups = [f"group{rng.randrange(GROUPS)}" for _ in range(10)]
        began = time.perf_counter()
        tasks = HumanTaskModel.objects.find_pending(assignee_id=user, assignee_group=groups)
        timings.append((time.perf_counter() - began) * 1000)
        sizes.append(len(tasks))
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"find_pending (10 groups, {args.tasks:,} rows): p50 {statistics.median(timings):.2f} ms, "
        f"p95 {p95:.2f} ms, {statistics.mean(sizes):.0f} tasks returned on average",
        flush=True,
    )
    query = HumanTaskModel.objects.pending(assignee_id=user, assignee_group=groups).query
    sql, params = query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    used = sorted({word for word in plan.replace('"', " ").split() if word.startswith("ix_")})
    print(f"find_pending plan uses: {', '.join(used) or 'no index (sequential scan)'}", flush=True)


BENCHMARKS = [("inbox", inbox)]
