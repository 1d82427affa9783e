"""Async step code in the persistent engine: decorated, partial and callable-object steps, and
steps that use Django's async ORM, through the sync API, the async API and a worker."""

from __future__ import annotations

import asyncio
import functools
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import override_settings

from workflows_app import BaseHumanStep, BaseMachineStep, Workflow, WorkflowRegistry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.engine.worker import Worker
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_async_connections"),
]


def logged(function):
    """An ordinary decorator: its wrapper is a plain ``def`` returning the coroutine."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)

    return wrapper


class Decorated(BaseMachineStep):
    name = "decorated"

    @logged
    async def execute(self, context):
        await asyncio.sleep(0.001)
        context.set("decorated", True)


class CreatesUser(BaseMachineStep):
    """Uses the async ORM, and records which thread its ORM call ran on."""

    name = "creates_user"

    async def execute(self, context):
        user = await get_user_model().objects.acreate(username=context.get("username"))
        context.set("user_pk", user.pk)
        context.set("orm_thread", await _orm_thread())
        return {"count": await get_user_model().objects.filter(pk=user.pk).acount()}


async def _orm_thread() -> int:
    from asgiref.sync import sync_to_async

    return await sync_to_async(threading.get_ident)()


class Review(BaseHumanStep):
    name = "review"

    @logged
    async def get_assignee(self, context):
        await asyncio.sleep(0)
        return "ann"


class AsyncFlow(Workflow):
    name = "async_flow"
    steps = [Decorated, CreatesUser, Review]
    edges = [("decorated", "creates_user"), ("creates_user", "review")]


@pytest.fixture
def engine() -> PersistentExecutionEngine:
    registry = WorkflowRegistry()
    registry.register(AsyncFlow)
    return PersistentExecutionEngine(registry)


def _check_settled(instance_id, username: str) -> WorkflowInstanceModel:
    row = WorkflowInstanceModel.objects.get(pk=instance_id)
    assert (row.status, row.current_step, row.lease_owner) == ("waiting", "review", None)
    assert row.context_data["decorated"] is True
    assert row.context_data["user_pk"] == get_user_model().objects.get(username=username).pk
    assert HumanTaskModel.objects.get(instance_id=instance_id).assignee_id == "ann"
    return row


def test_async_steps__sync_api_runs_them_on_the_callers_thread(engine) -> None:
    instance = engine.start_workflow_sync(AsyncFlow, {"username": "sync-api"})
    row = _check_settled(instance.id, "sync-api")
    # The async ORM ran on this thread, with this thread's database connection.
    assert row.context_data["orm_thread"] == threading.get_ident()


async def test_async_steps__async_api(engine) -> None:
    from asgiref.sync import sync_to_async

    instance = await engine.start_workflow(AsyncFlow, {"username": "async-api"})
    assert (instance.status, instance.current_step) == ("waiting", "review")
    await sync_to_async(_check_settled)(instance.id, "async-api")


def test_async_steps__worker_mode(engine) -> None:
    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
        instance = engine.start_workflow_sync(AsyncFlow, {"username": "worker"})
        assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "running"

        def work() -> None:
            try:
                Worker(engine, burst=True).run()
            finally:
                connections.close_all()  # this thread's connection

        thread = threading.Thread(target=work)
        thread.start()
        thread.join(30)
    _check_settled(instance.id, "worker")


def test_async_steps__a_failing_async_orm_call_fails_the_step_and_releases_the_lease(
    engine,
) -> None:
    get_user_model().objects.create(username="taken")
    instance = engine.start_workflow_sync(AsyncFlow, {"username": "taken"})  # unique violation
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert (row.status, row.current_step, row.lease_owner) == ("failed", "creates_user", None)
    assert "UNIQUE" in row.error.upper() or "DUPLICATE" in row.error.upper()
