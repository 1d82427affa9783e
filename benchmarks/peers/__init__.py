"""Peers on the engine workloads: litestar-workflows' own engine and Viewflow.

Each peer runs in a virtualenv of its own, made on first use under ``.venv-bench/`` and
reused while its requirements are unchanged, with a driver script of ours
(``*_driver.py`` beside this file) in a subprocess, on a database of its own on the same
server (PostgreSQL) or a temporary file (SQLite). The driver prints one JSON line of
instances/s; the ratios use our figures from the same run (:func:`benchmarks.engine.figures`).
A peer that cannot be installed or fails is skipped with a line that says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection

from benchmarks import engine

HERE = Path(__file__).resolve().parent
VENVS = HERE.parent.parent / ".venv-bench"


@dataclass(frozen=True)
class Peer:
    requirements: list[str]
    driver: str
    wiring: str  # printed; {driver} and {lock} are filled in per database
    ours: str  # the path of ours it is compared with: "documented" or "sync"
    targets: dict[str, tuple[int, int]]  # ours / peer, (linear-3, approval), per database


PEERS = {
    "litestar-workflows": Peer(
        ["litestar-workflows[db]==0.3.3", "aiosqlite", "asyncpg"],
        "litestar_workflows_driver.py",
        "its own PersistentExecutionEngine, SQLAlchemy async with {driver}, "
        "get_instance polled until settled",
        "documented",
        {"postgresql": (8, 8), "sqlite": (15, 15)},
    ),
    "viewflow": Peer(
        ["django-viewflow==2.4.0", "Django>=5.2,<5.3", "psycopg[binary]"],
        "viewflow_driver.py",
        "Function steps, a View task completed in code, {lock}",
        "sync",
        {"postgresql": (5, 3), "sqlite": (5, 3)},
    ),
}
WORKLOADS = (("linear3", "linear-3"), ("approval", "approval round trip"))


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and "WARNING" not in line]
    return lines[-1].strip() if lines else "no output"


def _python(name: str, requirements: list[str]) -> Path:
    """Return the python of the peer's virtualenv, made or updated if needed."""
    venv = VENVS / name
    stamp = venv / "bench-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if not (stamp.exists() and stamp.read_text() == wanted):
        print(f"{name}: installing {' '.join(requirements)} into {venv}", flush=True)
        stamp.unlink(missing_ok=True)
        for command in (
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *requirements],
        ):
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
            if done.returncode:
                raise RuntimeError(f"{command[2]} failed: {_last_line(done.stderr)}")
        stamp.write_text(wanted)
    return venv / "bin" / "python"


@contextmanager
def _database(name: str) -> Iterator[str]:
    """Yield the URL of an empty database for a peer, dropped afterwards."""
    if connection.vendor == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/{name}.sqlite3"
        return
    database = "bench_" + name.replace("-", "_")
    settings = connection.settings_dict
    user = quote(settings["USER"] or "")
    if settings["PASSWORD"]:
        user += ":" + quote(settings["PASSWORD"])
    url = (
        f"postgres://{user}@{settings['HOST'] or 'localhost'}:{settings['PORT'] or 5432}/{database}"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {database}")
    try:
        yield url
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def _run(name: str, peer: Peer, count: int) -> dict[str, Any]:
    python = _python(name, peer.requirements)
    with _database(name) as url:
        done = subprocess.run(
            [str(python), str(HERE / peer.driver), url, str(count)],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    if done.returncode:
        raise RuntimeError(f"its driver failed: {_last_line(done.stderr)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peers(args: Any) -> None:
    vendor = connection.vendor
    if vendor not in ("sqlite", "postgresql"):
        print("peers: SQLite and PostgreSQL only, skipped", flush=True)
        return
    ours = engine.figures(args.compare_instances)
    for name, peer in PEERS.items():
        try:
            rates = _run(name, peer, args.compare_instances)
        except (OSError, RuntimeError, subprocess.SubprocessError, ValueError) as error:
            print(f"{name}: skipped, {error}", flush=True)
            continue
        how = peer.wiring.format(
            driver="asyncpg" if vendor == "postgresql" else "aiosqlite",
            lock="select_for_update_lock" if vendor == "postgresql" else "no_lock (its default)",
        )
        print(
            f"{name} {rates['version']} ({how}), {args.compare_instances} instances each:",
            flush=True,
        )
        path = "_sync path" if peer.ours == "sync" else "documented path"
        for (workload, label), target in zip(WORKLOADS, peer.targets[vendor], strict=True):
            rate, mine = rates[workload], ours[peer.ours, workload]
            print(
                f"  {label}: {rate:.1f}/s; ours, {path} {mine:.0f}/s: {mine / rate:.1f}x "
                f"(target >= {target}x)",
                flush=True,
            )


BENCHMARKS = [("peers", peers)]
