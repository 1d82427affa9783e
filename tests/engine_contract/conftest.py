"""The engine contract suite: every scenario runs on every engine and mode.

``harness`` is parametrized ``local`` / ``inline`` / ``worker`` (see :mod:`.harness`). The
persistent ones are marked ``django_db(transaction=True)`` and run without a test
transaction: every change is a real commit, as in production (the worker runs in a thread
with a connection of its own, and events are sent after each commit). The local ones touch
no database.

A scenario on which the engines disagree keeps its test and is marked, for the harnesses
that fail it, ``@pytest.mark.disagree("local", reason=...)``: a strict xfail, so that the
mark must go when the engines agree.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings

from tests.engine_contract.harness import Clock, Harness, LocalHarness, PersistentHarness
from workflows_app.core import clock as clock_module
from workflows_app.models import (
    HumanTaskModel,
    MessageModel,
    MessageSubscriptionModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)
from workflows_app.testing import RecordingEventBus

HARNESSES = ("local", "inline", "worker")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "disagree(*harnesses, reason): the engine contract scenario fails on these harnesses "
        "(a strict xfail there)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or here not in item.path.parents:
            continue
        kind = callspec.params.get("harness")
        if kind in ("inline", "worker"):
            item.add_marker(pytest.mark.django_db(transaction=True))
        marker = item.get_closest_marker("disagree")
        if marker is not None and kind in marker.args:
            item.add_marker(pytest.mark.xfail(strict=True, reason=marker.kwargs["reason"]))


@pytest.fixture
def _django_db_helper(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The database of the persistent harnesses (this overrides pytest-django's fixture of
    the name, for this package only): no test transaction, so every change is a real
    commit; afterwards the engine's rows are deleted (a ``DELETE`` per table, in one
    transaction). pytest-django's ``transaction=True`` would empty every table with
    ``TRUNCATE``, which costs 0.2-0.3 s a test on PostgreSQL (a new file per table); should
    the fixture's name change, that is what happens again, slower but still correct."""
    with django_db_blocker.unblock():
        try:
            yield
        finally:
            with transaction.atomic(), connection.cursor() as cursor:
                # Children first: MariaDB checks the parent_id foreign key row by row.
                instances = connection.ops.quote_name(WorkflowInstanceModel._meta.db_table)
                cursor.execute(
                    f"UPDATE {instances} SET parent_id = NULL WHERE parent_id IS NOT NULL"
                )
                for model in (
                    MessageSubscriptionModel,
                    MessageModel,
                    HumanTaskModel,
                    StepExecutionModel,
                    WorkflowInstanceModel,
                    WorkflowDefinitionModel,
                ):
                    cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(clock_module, "utcnow", clock)
    return clock


@pytest.fixture
def bus() -> RecordingEventBus:
    return RecordingEventBus()


@pytest.fixture(params=HARNESSES)
def harness(
    request: pytest.FixtureRequest, clock: Clock, bus: RecordingEventBus
) -> Iterator[Harness]:
    kind = request.param
    if kind == "local":
        harness: Harness = LocalHarness(clock, bus, request.getfixturevalue("monkeypatch"))
        try:
            yield harness
        finally:
            harness.close()
        return
    workflows = {**settings.WORKFLOWS, "EXECUTION_MODE": kind}
    if os.environ.get("WORKFLOWS_CHECKPOINT_INTERVAL") is not None:
        # As in the integration tests: CI also runs with a commit after every step.
        workflows["CHECKPOINT_INTERVAL"] = float(os.environ["WORKFLOWS_CHECKPOINT_INTERVAL"])
    with override_settings(WORKFLOWS=workflows):
        harness = PersistentHarness(clock, bus, worker_mode=kind == "worker")
        try:
            yield harness
        finally:
            harness.close()
