"""Fixtures of the integration tests: a fresh registry, a recording bus and a persistent engine."""

from __future__ import annotations

import os

import pytest
from django.test import override_settings

from tests.integration.helpers import RecordingBus
from workflows_app import WorkflowRegistry
from workflows_app.engine.persistent import PersistentExecutionEngine


@pytest.fixture(autouse=True, scope="session")
def _checkpoint_interval_from_environment():
    """``WORKFLOWS_CHECKPOINT_INTERVAL=0 pytest tests/integration`` runs the suite with a
    commit after every step (CI runs it both ways)."""
    value = os.environ.get("WORKFLOWS_CHECKPOINT_INTERVAL")
    if value is None:
        yield
        return
    with override_settings(WORKFLOWS={"CHECKPOINT_INTERVAL": float(value)}):
        yield


@pytest.fixture
def registry() -> WorkflowRegistry:
    return WorkflowRegistry()


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


@pytest.fixture
def engine(registry: WorkflowRegistry, bus: RecordingBus) -> PersistentExecutionEngine:
    return PersistentExecutionEngine(registry, event_bus=bus)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the on-commit callbacks (the engine's events) registered inside the block on exit."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
async def close_async_connections():
    """Close the connection that sync_to_async's worker thread opened (the async API's ORM
    calls run there), so that the test database can be dropped at the end of the run."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()
