"""Two clients complete the same task at the same moment, through real HTTP (PostgreSQL).

Django runs a process's synchronous views one at a time on its ASGI thread, so two requests
to one uvicorn process would queue rather than race. Each racer therefore talks to its own
server process, both on the test database: the race is decided by the database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connection

from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROUNDS = 4
PREFIX = "/api/workflows"


def _serve(log_path: Any) -> tuple[subprocess.Popen, str]:
    """Start one more uvicorn process of the tests' ASGI app on the test database."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    command = [sys.executable, "-m", "uvicorn", "tests.api.asgi:application"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"]
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [*command, "--no-access-log"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def two_servers(live_server_url: str, tmp_path_factory) -> Iterator[list[str]]:
    """The session's server and a second one, on the same database."""
    log = tmp_path_factory.mktemp("uvicorn-second") / "server.log"
    server, url = _serve(log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + "/api/openapi.json", timeout=5)
                break
            except requests.RequestException:  # not listening yet, or still starting
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield [live_server_url, url]
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def race(calls: list[Any]) -> list[requests.Response]:
    """Run each call in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    answers: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            answers[index] = calls[index]()
        except BaseException as exc:  # reported by the test
            answers[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a racing request hung"
    return answers


def test_complete_race__exactly_one_wins(two_servers, make_caller) -> None:
    alice = make_caller("alice", groups=["reviewers"], perms=["start_workflow"])
    bob = make_caller("bob", groups=["reviewers"])
    sessions = [requests.Session(), requests.Session()]
    for round_number in range(ROUNDS):
        started = sessions[0].post(
            two_servers[0] + PREFIX + "/instances",
            json={"definition_name": "api_review"},
            headers=alice.headers,
            timeout=30,
        )
        assert started.status_code == 201, started.text
        instance_id = started.json()["id"]
        task = HumanTaskModel.objects.get(instance_id=instance_id)
        # Each round swaps which user talks to which server.
        callers = [alice, bob] if round_number % 2 == 0 else [bob, alice]

        def complete(index: int, callers=callers, task=task) -> requests.Response:
            return sessions[index].post(
                f"{two_servers[index]}{PREFIX}/tasks/{task.pk}/complete",
                json={"output_data": {"approved": True}},
                headers=callers[index].headers,
                timeout=60,
            )

        answers = race([lambda: complete(0), lambda: complete(1)])
        for answer in answers:
            assert isinstance(answer, requests.Response), answer
        by_status = {answer.status_code: answer for answer in answers}
        assert sorted(by_status) == [201, 409], [a.text for a in answers]
        assert by_status[201].json()["status"] == "completed"
        loser = by_status[409].json()
        assert (loser["status_code"], loser["code"]) == (409, "task_already_completed"), loser

        winner = callers[answers.index(by_status[201])].user.username
        task.refresh_from_db()
        assert (task.status, task.completed_by) == ("completed", winner)
        row = WorkflowInstanceModel.objects.get(pk=instance_id)
        assert (row.status, row.context_data["published"]) == ("completed", True)
        steps = StepExecutionModel.objects.filter(instance_id=instance_id)
        assert steps.filter(step_name="publish").count() == 1
        assert steps.filter(step_name="review", status="succeeded").count() == 1
        assert steps.filter(step_name="archive").count() == 0
