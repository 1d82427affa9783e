"""The REST API over real HTTP: uvicorn with one worker, serving the demo project.

- ``GET /workflows/tasks`` (50 per page) with 100,000 pending tasks (PostgreSQL only): a
  member of 10 of the 100 groups (10,000 tasks offered), and an operator listing every
  task (``scope=all``); requests per second and latency percentiles, from client threads
  on keep-alive connections. Also the SQL queries one inbox request issues, per page size.
- Start then complete of the demo's approval workflow over HTTP: two requests per round
  trip (the start's answer names the pending task).

Each runs four times: the demo served as ASGI (``project.asgi``, as ``make run`` does) and as
WSGI under uvicorn's ``--interface wsgi``, each without and with the token cache
(``WORKFLOWS["API_TOKEN_CACHE_SECONDS"]`` = 5: a process remembers a token's user for 5 s).
An unauthenticated request (a 401 before any query) shows what the server stack costs
before any view runs.

The server runs as in production: DEBUG off, and PostgreSQL connections from psycopg's pool
(``DATABASE_POOL=1``), as an ASGI deployment should have them.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext

from workflows_app.api import make_token

TASKS = 100_000
GROUPS = 100
PAGE = 50
CLIENT_THREADS = 6
SECONDS = 6.0


def _fill_tasks(count: int, member: str = "bench_member") -> None:
    """``count`` pending tasks over ``GROUPS`` groups, a tenth assigned to a user, with the
    inbox's later rules in the data (issue 16), so that their conditions cost what they would:

    - multi-instance tasks: half of the pending tasks are one of 3 siblings
      (``multi_index``/``multi_total``), and ``count // 5`` completed siblings more;
    - four-eyes: a seventh of the tasks exclude a user, one in 70 excludes ``member``;
    - substitutions (:func:`_fill_substitutions`): ``member`` stands in for a few users
      (some active, some expired, some for another workflow), and many other users have
      substitutions of their own, active and expired.
    """
    from workflows_app.engine.persistent import PersistentExecutionEngine
    from workflows_app.models import StepExecutionModel

    instance = PersistentExecutionEngine().start_workflow_sync("expense_approval", {"amount": 1})
    execution = StepExecutionModel.objects.filter(instance_id=instance.id).first()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO workflow_human_tasks (
                id, created_at, updated_at, instance_id, step_execution_id, step_name, title,
                description, assignee_id, assignee_group, due_at, status, priority, activity,
                multi_index, multi_total, excluded_users
            )
            SELECT
                gen_random_uuid(), now() - (n || ' seconds')::interval, now(),
                %s, %s, 'manager_approval', 'Approve claim ' || n, 'Check the receipt',
                CASE WHEN n %% 10 = 0 THEN 'user' || (n %% 1000) END,
                'group' || (n %% %s),
                CASE WHEN n %% 3 = 0 THEN now() + ((n %% 1000) || ' hours')::interval END,
                CASE WHEN n > %s THEN 'completed' ELSE 'pending' END, n %% 5, '[]',
                CASE WHEN n %% 2 = 0 OR n > %s THEN n %% 3 END,
                CASE WHEN n %% 2 = 0 OR n > %s THEN 3 END,
                CASE
                    WHEN n %% 70 = 0 THEN E'\\n' || %s || E'\\nuser' || (n %% 997) || E'\\n'
                    WHEN n %% 7 = 0 THEN E'\\nuser' || (n %% 997) || E'\\n'
                    ELSE ''
                END
            FROM generate_series(1, %s) AS n
            """,
            [instance.id, execution.id, GROUPS, count, count, count, member, count + count // 5],
        )
        _fill_substitutions(cursor, member)
        cursor.execute("ANALYZE workflow_human_tasks")
        cursor.execute("ANALYZE workflow_substitutions")


# The users ``member`` stands in for (the tasks' assignees are user0, user10, ... user990):
# (user, active, workflows) - expired ones and one for another workflow add no task.
MEMBER_SUBSTITUTIONS = (
    ("user10", True, ""),
    ("user20", True, ""),
    ("user30", True, "\nexpense_approval\n"),
    ("user40", True, "\nbench_approval\n"),
    ("user50", False, ""),
    ("user60", False, ""),
)
OTHER_SUBSTITUTIONS = 50_000


def _fill_substitutions(cursor: Any, member: str) -> None:
    """The substitutions of :data:`MEMBER_SUBSTITUTIONS` for ``member``, then
    ``OTHER_SUBSTITUTIONS`` of other users: each of the other task assignees (user100 and
    up) is away with a deputy now, and many users without tasks were or will be away."""
    for user, active, workflows in MEMBER_SUBSTITUTIONS:
        cursor.execute(
            """
            INSERT INTO workflow_substitutions
                (id, "user", substitute, starts_at, ends_at, workflows, created_at)
            VALUES (
                gen_random_uuid(), %s, %s,
                now() - interval '10 days',
                now() + CASE WHEN %s THEN interval '10 days' ELSE interval '-1 day' END,
                %s, now()
            )
            """,
            [user, member, active, workflows],
        )
    cursor.execute(
        """
        INSERT INTO workflow_substitutions
            (id, "user", substitute, starts_at, ends_at, workflows, created_at)
        SELECT
            gen_random_uuid(),
            CASE WHEN n <= 90 THEN 'user' || (n * 10 + 90) ELSE 'away' || n END,
            'deputy' || (n %% 500),
            now() + ((n %% 3 - 1) * 20 - 5 || ' days')::interval,
            now() + ((n %% 3 - 1) * 20 + 5 || ' days')::interval,
            CASE WHEN n %% 4 = 0 THEN E'\\nexpense_approval\\n' ELSE '' END,
            now()
        FROM generate_series(1, %s) AS n
        """,
        [OTHER_SUBSTITUTIONS],
    )


def _data_summary(member: str) -> str:
    """What the inbox's later rules have in the data (printed with the figures)."""
    from workflows_app.core import four_eyes
    from workflows_app.core.types import TaskStatus
    from workflows_app.engine import substitution
    from workflows_app.models import HumanTaskModel, Substitution

    tasks = HumanTaskModel.objects.all()
    using = connection.alias
    return (
        f"{tasks.filter(multi_total__isnull=False).count():,} multi-instance tasks "
        f"({tasks.filter(multi_total__isnull=False, status=TaskStatus.COMPLETED).count():,} completed), "
        f"{tasks.exclude(excluded_users='').count():,} with four-eyes exclusions "
        f"({tasks.filter(excluded_users__contains=four_eyes.marker(member)).count():,} "
        f"of {member}), {Substitution.objects.count():,} substitutions "
        f"({len(substitution.substituting(using, member))} active for {member}, "
        f"{tasks.filter(substitution.active(member), status=TaskStatus.PENDING).count():,} pending tasks "
        "of the users it stands in for)"
    )


def _user(name: str, groups: list[str], perms: list[str]) -> User:
    user = User.objects.create_user(name)
    user.groups.add(*[Group.objects.get_or_create(name=group)[0] for group in groups])
    found = Permission.objects.filter(content_type__app_label="workflows_app", codename__in=perms)
    user.user_permissions.add(*found)
    return user


class _Server:
    """A uvicorn process (one worker) serving the demo project on the bench database, as
    ASGI (``project.asgi``) or as WSGI (``project.wsgi``, ``--interface wsgi``)."""

    def __init__(self, interface: str = "asgi", token_cache: str = "0") -> None:
        self.interface = interface
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        root = Path(settings.BASE_DIR)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DATABASE_NAME": str(connection.settings_dict["NAME"]),
            "DATABASE_POOL": "1",
            "DJANGO_DEBUG": "0",
            "PYTHONPATH": str(root),
            "WORKFLOWS_API_TOKEN_CACHE_SECONDS": token_cache,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                f"project.{interface}:application",
                "--interface",
                "asgi3" if interface == "asgi" else interface,
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--lifespan",
                "off",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=root,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("uvicorn did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _call(
    conn: http.client.HTTPConnection, method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, path, payload, headers)
    answer = conn.getresponse()
    data = answer.read()
    return answer.status, json.loads(data) if data else None


def _load(
    port: int, path: str, token: str, *, expect: int = 200, seconds: float = SECONDS
) -> tuple[float, list[float]]:
    """GET ``path`` from client threads for ``seconds``; return requests/s and latencies."""
    latencies: list[list[float]] = [[] for _ in range(CLIENT_THREADS)]
    stop = time.perf_counter() + seconds
    failures: list[str] = []

    def client(mine: list[float]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        while time.perf_counter() < stop:
            began = time.perf_counter()
            status, body = _call(conn, "GET", path, token)
            mine.append((time.perf_counter() - began) * 1000)
            if status != expect or (expect == 200 and len(body) != PAGE):
                failures.append(f"{status} {str(body)[:200]}")
                return
        conn.close()

    threads = [threading.Thread(target=client, args=(mine,)) for mine in latencies]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{path}: {failures[0]}")
    every = sorted(latency for mine in latencies for latency in mine)
    return len(every) / elapsed, every


def _queries_per_page(token_user: User) -> str:
    """The SQL queries one inbox request issues, for several page sizes (in process)."""
    from django.test import override_settings
    from ninja.testing import TestClient

    from project.api import api

    client = TestClient(api)
    headers = {"Authorization": f"Bearer {make_token(token_user)}"}
    cached = {**settings.WORKFLOWS, "API_TOKEN_CACHE_SECONDS": 5}
    # The bench process runs with DEBUG on, so the filling above left Django's query log
    # full (it keeps the last 9,000): a full log would count every request as 0 queries.
    reset_queries()
    counts = []
    for label, workflows in (("", settings.WORKFLOWS), (" with the token cache", cached)):
        with override_settings(WORKFLOWS=workflows):
            client.get("/workflows/tasks?limit=1", headers=headers)  # the cache remembers
            for size in (1, 10, 50, 100):
                with CaptureQueriesContext(connection) as queries:
                    answer = client.get(f"/workflows/tasks?limit={size}", headers=headers)
                assert answer.status_code == 200 and len(answer.json()) == size, answer.content
                counts.append(f"{size}{label}: {len(queries)}")
    return ", ".join(counts)


# (interface, seconds of token cache)
SERVERS = (("asgi", "0"), ("asgi", "5"), ("wsgi", "0"), ("wsgi", "5"))


def _server_label(interface: str, token_cache: str) -> str:
    return f"[{interface}{', token cache' if token_cache != '0' else ''}]"


def _report_load(label: str, rate: float, latencies: list[float]) -> None:
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(
        f"{label}: {rate:.0f} requests/s, p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {p95:.1f} ms ({CLIENT_THREADS} client threads)",
        flush=True,
    )


def tasks_inbox(args: Any) -> None:
    if connection.vendor != "postgresql":
        print("GET /workflows/tasks over 100,000 tasks: PostgreSQL only, skipped", flush=True)
        return
    started = time.perf_counter()
    _fill_tasks(TASKS)
    print(f"filled {TASKS:,} pending tasks in {time.perf_counter() - started:.1f} s", flush=True)
    print(f"  with {_data_summary('bench_member')}", flush=True)
    member = _user("bench_member", [f"group{n}" for n in range(10)], [])
    operator = _user("bench_operator", [], ["view_humantaskmodel"])
    print(f"SQL queries per inbox request by page size: {_queries_per_page(member)}", flush=True)
    for interface, token_cache in SERVERS:
        server = _Server(interface, token_cache)
        label = _server_label(interface, token_cache)
        try:
            if token_cache == "0":
                # The floor: an unauthenticated request, answered 401 before any query.
                rate, latencies = _load(server.port, "/api/workflows/tasks", "-", expect=401)
                _report_load(
                    f"[{interface}] 401 without credentials (the stack alone)", rate, latencies
                )
            for who, user, path in (
                ("member of 10 groups", member, f"/api/workflows/tasks?limit={PAGE}"),
                ("operator, scope=all", operator, f"/api/workflows/tasks?limit={PAGE}&scope=all"),
            ):
                token = make_token(user)
                _load(server.port, path, token, seconds=1.0)  # warm up: connections, caches
                rate, latencies = _load(server.port, path, token)
                _report_load(
                    f"{label} GET /workflows/tasks ({PAGE} of {TASKS:,} pending, {who})",
                    rate,
                    latencies,
                )
        finally:
            server.stop()


def start_and_complete(args: Any) -> None:
    user = _user("bench_manager", ["managers"], ["start_workflow"])
    token = make_token(user)
    count = max(args.instances // 2, 50)
    for interface, token_cache in SERVERS:
        server = _Server(interface, token_cache)
        try:
            _round_trips(server.port, token, 5)  # warm up
            threads = [
                threading.Thread(target=_round_trips, args=(server.port, token, count // 4))
                for _ in range(4)
            ]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - began
        finally:
            server.stop()
        total = (count // 4) * 4
        print(
            f"{_server_label(interface, token_cache)} start + complete over HTTP "
            f"({connection.vendor}): {total} round "
            f"trips in {elapsed:.2f} s = {total / elapsed:.0f}/s (4 client threads)",
            flush=True,
        )


def _round_trips(port: int, token: str, count: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(count):
        status, started = _call(
            conn,
            "POST",
            "/api/workflows/instances",
            token,
            {"definition_name": "expense_approval", "input_data": {"amount": 10}},
        )
        assert status == 201 and started["status"] == "waiting", (status, started)
        [task] = started["pending_tasks"]
        status, finished = _call(
            conn,
            "POST",
            f"/api/workflows/tasks/{task['id']}/complete",
            token,
            {"output_data": {"approved": True}},
        )
        assert status == 201 and finished["status"] == "completed", (status, finished)
    conn.close()


BENCHMARKS = [("api_start_complete", start_and_complete), ("api_tasks", tasks_inbox)]
