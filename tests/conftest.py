"""Fixtures and hooks shared by the whole suite.

The database is the demo project's: SQLite by default, or the one named by ``DATABASE_URL``.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection


def pytest_report_header(config: pytest.Config) -> str:
    """Say which database this run uses, next to pytest-django's Django version line."""
    source = (
        "from DATABASE_URL"
        if os.environ.get("DATABASE_URL")
        else "the default; set DATABASE_URL for another"
    )
    return f"database: {connection.vendor} ({source})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``postgres_only`` unless the suite runs on PostgreSQL."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason=f"needs PostgreSQL; this run uses {connection.vendor}")
    for item in items:
        if item.get_closest_marker("postgres_only"):
            item.add_marker(skip)
