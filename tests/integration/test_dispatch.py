"""Dispatch: which dispatcher the settings choose, and which commits call it (every database)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from tests.integration.helpers import Edge, Step, human, marker, workflow
from workflows_app.core import clock
from workflows_app.core.retry import RetryPolicy
from workflows_app.engine import dispatch
from workflows_app.engine.worker import Worker
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db

RECORDING = "tests.integration.test_dispatch.Recording"


class Recording(dispatch.Dispatcher):
    """A project's own dispatcher (``DISPATCH = <dotted path>``): records its calls."""

    calls: list[tuple[str, object, bool, str]] = []
    depth = 0

    def notify(self, instance_id, wake_at) -> None:
        from django.db import connections

        # Inside an atomic block of the engine's, deeper than the test's own.
        in_transaction = len(connections[self.using].atomic_blocks) > Recording.depth
        Recording.calls.append((str(instance_id), wake_at, in_transaction, self.using))


@pytest.fixture
def recorded():
    Recording.calls = []
    Recording.depth = len(connection.atomic_blocks)
    return Recording.calls


def test_dispatcher__default_notifies_on_postgresql_only() -> None:
    chosen = dispatch.dispatcher("default")
    expected = dispatch.PostgresNotify if connection.vendor == "postgresql" else dispatch.Dispatcher
    assert type(chosen) is expected and chosen.using == "default"
    assert dispatch.listens("default") is (connection.vendor == "postgresql")


@override_settings(WORKFLOWS={"LISTEN_NOTIFY": False})
def test_dispatcher__listen_notify_off_polls_only() -> None:
    assert type(dispatch.dispatcher("default")) is dispatch.Dispatcher
    assert dispatch.listens("default") is False


@override_settings(WORKFLOWS={"DISPATCH": "celery"})
def test_dispatcher__celery_is_found_by_name() -> None:
    pytest.importorskip("celery")
    from workflows_app import tasks
    from workflows_app.contrib.celery import tasks as celery_tasks
    from workflows_app.contrib.celery.dispatch import CeleryDispatcher

    assert type(dispatch.dispatcher("default")) is CeleryDispatcher
    assert dispatch.listens("default") is False
    # workflows_app.tasks, where autodiscover_tasks() looks, re-exports the tasks.
    assert (tasks.run_instance, tasks.run_due, tasks.dispatch) == (
        celery_tasks.run_instance,
        celery_tasks.run_due,
        celery_tasks.dispatch,
    )
    assert tasks.run_instance.name == "workflows_app.run_instance"
    assert tasks.run_due.name == "workflows_app.run_due"


@override_settings(WORKFLOWS={"DISPATCH": "tests.integration.test_dispatch.Missing"})
def test_dispatcher__a_dotted_path_that_does_not_import_raises() -> None:
    with pytest.raises(ImportError):
        dispatch.dispatcher("default")


@override_settings(WORKFLOWS={"EXECUTION_MODE": "worker", "DISPATCH": RECORDING})
def test_dispatch__worker_mode_calls_it_for_each_commit_that_leaves_work(engine, recorded) -> None:
    after = marker("B")
    wf = workflow([marker("A"), human("H"), after], [Edge("A", "H"), Edge("H", "B")])

    before = clock.utcnow()
    instance = engine.start_workflow_sync(wf)
    # The start's insert is autocommitted, and the dispatcher told right after it.
    [(instance_id, wake_at, in_transaction, using)] = recorded
    assert (instance_id, in_transaction, using) == (str(instance.id), False, "default")
    assert before <= wake_at <= clock.utcnow()

    Worker(engine, burst=True).run()  # runs A and parks at H: nothing left to run
    assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "waiting"
    assert len(recorded) == 1

    engine.complete_human_task_sync(instance.id, "H", "u1", {})
    # Told inside the transaction that committed the completion.
    assert [(i, t) for i, _, t, _ in recorded[1:]] == [(str(instance.id), True)]
    assert recorded[1][1] <= clock.utcnow()

    Worker(engine, burst=True).run()
    assert after.calls == 1
    assert len(recorded) == 2  # completing the instance leaves nothing to run


@override_settings(WORKFLOWS={"DISPATCH": RECORDING})
def test_dispatch__inline_calls_it_only_for_work_left_for_later(engine, recorded) -> None:
    engine.start_workflow_sync(workflow([marker("A"), marker("B")], [Edge("A", "B")]))
    assert recorded == []  # the call ran everything itself

    def fails(ctx):
        raise ConnectionError("down")

    call = Step("call", fails)
    call.retry_policy = RetryPolicy(max_attempts=3, initial_interval=timedelta(seconds=60))
    instance = engine.start_workflow_sync(workflow([call], [], name="retrying"))
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    # The back-off is handed off, with its due time, by the commit that armed it.
    assert [(i, w, t) for i, w, t, _ in recorded] == [(str(instance.id), row.wake_at, True)]
    assert row.wake_at > clock.utcnow()


def test_worker__listens_only_where_the_engine_notifies(engine) -> None:
    postgres = connection.vendor == "postgresql"
    assert Worker(engine).listens() is postgres
    assert Worker(engine, listen=False).listens() is False
    assert Worker(engine, burst=True).listens() is False  # burst workers exit when idle
    with override_settings(WORKFLOWS={"LISTEN_NOTIFY": False}):
        assert Worker(engine).listens() is False


@override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"})
def test_workflows_worker_command__no_listen(engine, registry, capsys) -> None:
    from workflows_app.core import registry as registry_module

    wf = workflow([marker("A")], [], name="by_command_no_listen")
    instance = engine.start_workflow_sync(wf)
    registry_module.default_registry.register(wf)
    try:
        call_command("workflows_worker", "--burst", "--no-listen", "--poll-interval", "0.01")
    finally:
        registry_module.default_registry.unregister("by_command_no_listen")
    assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "completed"
    assert "ran 1 instance(s)" in capsys.readouterr().out
