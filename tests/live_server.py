"""A uvicorn process serving an ASGI application of the repository on this run's test
database: what the REST API's HTTP tests and the browser tests talk to.

Tests using it commit their data (``@pytest.mark.django_db(transaction=True)``): the
server is another process, with its own connection.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection

REPO_ROOT = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def uvicorn_server(
    application: str,
    log_dir: Path,
    *,
    ready_path: str = "/",
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Serve ``application`` ("module:attribute") on a free port; yield its base URL once
    ``ready_path`` answers, and stop the process afterwards.

    Call it after the test database exists (the ``django_db_setup`` fixture): the process
    gets the test database's name in ``DATABASE_NAME`` (see ``project/settings.py``).
    """
    port = free_port()
    server_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": str(REPO_ROOT),
        **(env or {}),
    }
    log = log_dir / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                application,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--lifespan",
                "off",
                "--no-access-log",
            ],
            cwd=REPO_ROOT,
            env=server_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + ready_path, timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening, or busy
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
