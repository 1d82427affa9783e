"""A worker or starter process for the worker benchmarks (``python -m benchmarks.child``).

Runs against the benchmark's test database (``BENCH_DB_NAME``) with the workflows of
:mod:`benchmarks.workers` registered.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    import django
    from django.conf import settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    settings.DATABASES["default"]["NAME"] = os.environ["BENCH_DB_NAME"]
    settings.WORKFLOWS = {
        "EXECUTION_MODE": "worker",
        "LEASE_SECONDS": float(os.environ.get("BENCH_LEASE", "60")),
    }
    django.setup()

    from benchmarks.workers import registry
    from workflows_app.db import PersistentExecutionEngine
    from workflows_app.engine.worker import Worker

    engine = PersistentExecutionEngine(registry())
    mode = sys.argv[1]
    if mode == "burst":
        Worker(engine, burst=True, poll_interval=0.05).run()
    elif mode == "forever":
        Worker(engine, poll_interval=0.05).run()
    elif mode == "pickup":  # the default poll interval; "listen" or "poll" (only)
        Worker(engine, listen=sys.argv[2] == "listen").run()
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
