"""The Litestar adapter under a real uvicorn process: the persistence guide's example, and
Django's connections over many requests (none broken, none leaked)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth.models import Permission, User
from django.db import OperationalError, connection

from tests.live_server import uvicorn_server
from workflows_app.api import make_token
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db(transaction=True)


# -- the guide's example --------------------------------------------------------------------


def test_example__the_guides_litestar_app_starts_a_workflow(tmp_path: Path) -> None:
    with uvicorn_server(
        "examples.litestar_app:app",
        tmp_path,
        env={"DJANGO_SETTINGS_MODULE": "examples.settings"},
    ) as url:
        answer = requests.post(url + "/workflows/approval/start", json={"amount": 120}, timeout=30)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "waiting"
    row = WorkflowInstanceModel.objects.get(pk=body["instance_id"])
    assert (row.workflow_name, row.status, row.current_step) == ("approval", "waiting", "approve")
    assert row.context_data["amount"] == 120
    assert row.context_data["submitted"] is True
    task = HumanTaskModel.objects.get(instance_id=row.pk)
    assert (task.status, task.assignee_group) == ("pending", "managers")


# -- connections --------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The tests' Litestar application (``tests/api/litestar_asgi.py``), and its pid."""
    with uvicorn_server("tests.api.litestar_asgi:app", tmp_path, ready_path="/schema") as url:
        yield url, _pid_listening_on(int(url.rsplit(":", 1)[1]))


def _pid_listening_on(port: int) -> int:
    """The uvicorn process started with ``--port <port>``."""
    wanted = ["--port", str(port)]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode().split("\0")
        except OSError:
            continue
        if any(args[i : i + 2] == wanted for i in range(len(args))):
            return int(cmdline.parent.name)
    raise LookupError(f"no process serves port {port}")


def _threads_and_files(pid: int) -> tuple[int, int]:
    return (
        len(list(Path(f"/proc/{pid}/task").iterdir())),
        len(list(Path(f"/proc/{pid}/fd").iterdir())),
    )


def _database_sessions() -> int | None:
    """How many other sessions the test database has (None on SQLite: no server)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        elif connection.vendor == "mysql":
            cursor.execute(
                "SELECT count(*) FROM information_schema.processlist "
                "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
            )
        else:
            return None
        return cursor.fetchone()[0]


def _drop_other_sessions() -> int:
    """Have the database close every other session of the test database."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return len(cursor.fetchall())
        cursor.execute(
            "SELECT id FROM information_schema.processlist "
            "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
        )
        ids = [row[0] for row in cursor.fetchall()]
        for session_id in ids:
            try:
                cursor.execute(f"KILL {int(session_id)}")
            except OperationalError:
                pass  # it ended between the two statements
        return len(ids)


def _settles(measure: Callable[[], Any], expected: Callable[[Any], bool]) -> Any:
    """``measure()`` once ``expected`` holds for it (sockets and threads close a moment
    after the last answer), or its last value after five seconds."""
    deadline = time.monotonic() + 5
    value = measure()
    while not expected(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = measure()
    return value


def test_connections__many_requests_leave_none_open_or_broken(server) -> None:
    url, pid = server
    user = User.objects.create_user("loader", is_superuser=True)
    user.user_permissions.add(*Permission.objects.filter(codename="start_workflow"))
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    base = url + "/workflows"

    def call(index: int) -> int:
        with requests.Session() as session:
            if index % 3 == 0:
                started = session.post(
                    base + "/instances",
                    json={"definition_name": "api_review"},
                    headers=headers,
                    timeout=60,
                )
                if started.status_code != 201:
                    return started.status_code
                return session.get(
                    f"{base}/instances/{started.json()['id']}", headers=headers, timeout=60
                ).status_code
            return session.get(
                base + "/tasks?scope=all&count=true", headers=headers, timeout=60
            ).status_code

    # Warm up (imports, the first connection), then measure at rest.
    assert [call(index) for index in range(3)] == [200, 200, 200]
    threads, files = _settles(lambda: _threads_and_files(pid), lambda value: True)
    sessions = _database_sessions()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, range(300)))
    assert statuses == [200] * 300

    # At rest again: no thread, file or database session more than before.
    after = _settles(
        lambda: _threads_and_files(pid),
        lambda value: value[0] <= threads and value[1] <= files,
    )
    assert after[0] <= threads, f"threads: {threads} before, {after[0]} after"
    assert after[1] <= files, f"open files: {files} before, {after[1]} after"
    if sessions is not None:
        left = _settles(_database_sessions, lambda value: value <= sessions)
        assert left <= sessions, f"database sessions: {sessions} before, {left} after"
    assert WorkflowInstanceModel.objects.count() == 101


@pytest.mark.skipif("connection.vendor == 'sqlite'", reason="SQLite has no server to drop us")
def test_connections__after_the_database_drops_them__the_next_request_works(server) -> None:
    url, _pid = server
    user = User.objects.create_user("reader")
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    for _ in range(3):
        assert (
            requests.get(url + "/workflows/tasks", headers=headers, timeout=30).status_code == 200
        )
        _drop_other_sessions()
        answer = requests.get(url + "/workflows/tasks", headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
