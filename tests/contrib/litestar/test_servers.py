"""The Litestar adapter under a real uvicorn process: the persistence guide's example (also
run exactly as its docstring says), and Django's connections over many requests (none
broken, none leaked)."""

from __future__ import annotations

import ast
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth.models import Permission, User
from django.db import OperationalError, connection

from tests.live_server import REPO_ROOT, free_port, uvicorn_server
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
        unknown = requests.post(url + "/workflows/no_such_workflow/start", json={}, timeout=30)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "waiting"
    row = WorkflowInstanceModel.objects.get(pk=body["instance_id"])
    assert (row.workflow_name, row.status, row.current_step) == ("approval", "waiting", "approve")
    assert row.context_data["amount"] == 120
    assert row.context_data["submitted"] is True
    task = HumanTaskModel.objects.get(instance_id=row.pk)
    assert (task.status, task.assignee_group) == ("pending", "managers")
    assert unknown.status_code == 404, unknown.text
    assert unknown.json() == {
        "status_code": 404,
        "detail": "Workflow 'no_such_workflow' not found",
        "code": "workflow_not_found",
        "errors": [],
    }
    assert WorkflowInstanceModel.objects.count() == 1


def test_example__runs_as_its_docstring_says(tmp_path: Path) -> None:
    """The commands of ``examples/litestar_app.py``'s docstring, run from the repository's
    root in a shell's environment (no ``PYTHONPATH``, no ``DJANGO_SETTINGS_MODULE``):
    migrate, serve, and the two ``curl`` calls. Only the port (a free one) and the
    database (a new SQLite file) differ; ``curl`` also prints the status."""
    source = (REPO_ROOT / "examples" / "litestar_app.py").read_text()
    docstring = ast.get_docstring(ast.parse(source)) or ""
    commands = [
        shlex.split(line)
        for line in (line.strip() for line in docstring.splitlines())
        if line.startswith(("python -m ", "curl "))
    ]
    migrate, serve, start, unknown = commands
    port = str(free_port())

    def here(command: list[str]) -> list[str]:
        return [sys.executable if arg == "python" else arg.replace("8001", port) for arg in command]

    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "DATABASE_NAME")
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'example.sqlite3'}"
    done = subprocess.run(
        here(migrate), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    with (tmp_path / "server.log").open("w") as log:
        server = subprocess.Popen(
            here(serve), cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_for_port(int(port), server, tmp_path / "server.log")
        answers = [
            subprocess.run(
                [*here(command), "-sS", "-w", "\n%{http_code}"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout.rsplit("\n", 1)
            for command in (start, unknown)
        ]
    finally:
        server.terminate()
        server.wait(timeout=10)

    (started, started_status), (refused, refused_status) = answers
    assert started_status == "201", started
    assert json.loads(started)["status"] == "waiting"
    assert refused_status == "404", refused
    assert json.loads(refused) == {
        "status_code": 404,
        "detail": "Workflow 'no_such_workflow' not found",
        "code": "workflow_not_found",
        "errors": [],
    }


def _wait_for_port(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the example did not start:\n{log.read_text()}") from None
            time.sleep(0.1)


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
