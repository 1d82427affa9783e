"""Run the benchmarks against the database in DATABASE_URL (SQLite when unset).

The benchmarks create their own test database (``test_bench_<name>``), so they never
touch the demo's data, and drop it at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("DATABASE_TEST_NAME", "test_bench")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--instances", type=int, default=500, help="instances per engine run")
    parser.add_argument(
        "--compare-instances",
        type=int,
        default=200,
        help="instances per workload for the documented-path and peer comparisons",
    )
    parser.add_argument(
        "--tasks", type=int, default=1_000_000, help="task rows for the inbox query (PostgreSQL)"
    )
    parser.add_argument(
        "--migrate-instances",
        type=int,
        default=10_000,
        help="waiting instances moved to another version by the migrate benchmark",
    )
    parser.add_argument("--only", help="run only the benchmarks whose name contains this")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    from benchmarks import admin, api, engine, inbox, migrate, peers, workers

    print(f"database: {connection.vendor}", flush=True)
    if connection.vendor == "sqlite":
        # A file, so that WAL and IMMEDIATE transactions behave as in production (a path in
        # DATABASE_TEST_NAME keeps two runs on one machine apart).
        name = os.environ["DATABASE_TEST_NAME"]
        connection.settings_dict["TEST"]["NAME"] = (
            name if name.startswith("/") else "/tmp/workflows_bench.sqlite3"
        )
    started = time.perf_counter()
    old = setup_databases(verbosity=0, interactive=False, keepdb=False)
    try:
        benchmarks = (
            *engine.BENCHMARKS,
            *peers.BENCHMARKS,
            *inbox.BENCHMARKS,
            *workers.BENCHMARKS,
            *api.BENCHMARKS,
            *admin.BENCHMARKS,
            *migrate.BENCHMARKS,
        )
        for name, run in benchmarks:
            if args.only and args.only not in name:
                continue
            run(args)
    finally:
        teardown_databases(old, verbosity=0)
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
