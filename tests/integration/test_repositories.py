"""The async repositories of ``workflows_app.db`` (the seed guide's API), on real transactions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from tests.integration.helpers import Edge, human, marker, workflow
from workflows_app import WorkflowRegistry, WorkflowStatus
from workflows_app.db import (
    HumanTaskModel,
    HumanTaskRepository,
    PersistentExecutionEngine,
    StepExecutionRepository,
    WorkflowDefinitionModel,
    WorkflowDefinitionRepository,
    WorkflowInstanceModel,
    WorkflowInstanceRepository,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_async_connections"),
]


def approval(name="approval", version="1.0.0", **human_kwargs):
    return workflow(
        [marker("submit"), human("manager_approval", **human_kwargs), marker("done")],
        [Edge("submit", "manager_approval"), Edge("manager_approval", "done")],
        name=name,
        version=version,
    )


async def test_repositories__seed_guide_round_trip() -> None:
    engine = PersistentExecutionEngine(registry=WorkflowRegistry(), session=None)
    wf = approval(assignee_key="manager", assignee_group="managers", due_in=timedelta(days=1))
    waiting = await engine.start_workflow(
        wf,
        initial_data={"manager": "boss@example.com"},
        tenant_id="acme-corp",
        created_by="user@example.com",
    )

    tasks = HumanTaskRepository(session=None)
    (task,) = await tasks.find_pending(assignee_id="boss@example.com")
    assert (task.title, task.instance_id, task.assignee_group) == (
        "Manager Approval",
        waiting.id,
        "managers",
    )
    assert [t.pk for t in await tasks.find_pending(assignee_group="managers")] == [task.pk]
    assert [
        t.pk
        for t in await tasks.find_pending(
            assignee_group=["legal", "managers"], tenant_id="acme-corp"
        )
    ] == [task.pk]
    assert await tasks.find_pending(assignee_id="someone-else@example.com") == []
    assert [t.pk for t in await tasks.find_by_instance(waiting.id)] == [task.pk]
    assert await tasks.find_overdue() == []
    assert (await tasks.get(task.pk)).pk == task.pk
    assert await tasks.get(uuid.uuid4()) is None

    instances = WorkflowInstanceRepository(session=None)
    page, total = await instances.find_by_workflow(
        workflow_name="approval", status=WorkflowStatus.WAITING, limit=50, offset=0
    )
    assert ([i.pk for i in page], total) == ([waiting.id], 1)
    assert [i.pk for i in await instances.find_by_user("user@example.com")] == [waiting.id]
    page, total = await instances.find_by_tenant(
        tenant_id="acme-corp", status=WorkflowStatus.COMPLETED
    )
    assert (page, total) == ([], 0)
    assert [i.pk for i in await instances.find_running()] == [waiting.id]

    steps = StepExecutionRepository(session=None)
    assert [s.step_name for s in await steps.find_by_instance(waiting.id)] == [
        "submit",
        "manager_approval",
    ]
    assert (await steps.find_by_step_name(waiting.id, "manager_approval")).status == "waiting"
    assert await steps.find_failed(instance_id=waiting.id) == []

    definitions = WorkflowDefinitionRepository(session=None)
    assert (await definitions.get_latest_version("approval")).version == "1.0.0"
    assert (await definitions.get_by_name("approval", version="1.0.0")).name == "approval"
    assert [d.name for d in await definitions.list_active()] == ["approval"]

    await engine.complete_human_task(
        instance_id=waiting.id,
        step_name="manager_approval",
        user_id="boss@example.com",
        data={"approved": True, "comments": "Looks good!"},
    )
    page, total = await instances.find_by_tenant(
        tenant_id="acme-corp", status=WorkflowStatus.COMPLETED
    )
    assert ([i.pk for i in page], total) == ([waiting.id], 1)
    assert await tasks.find_pending() == []
    assert await instances.find_running() == []


async def test_repositories__writes() -> None:
    engine = PersistentExecutionEngine(WorkflowRegistry())
    waiting = await engine.start_workflow(approval())
    tasks = HumanTaskRepository()
    (task,) = await tasks.find_pending()

    completed = await tasks.complete_task(task.pk, completed_by="user@example.com")
    assert (completed.status, completed.completed_by) == ("completed", "user@example.com")
    assert (await tasks.cancel_task(task.pk)).status == "completed"  # only pending tasks change

    other = await engine.start_workflow(approval())
    (other_task,) = await tasks.find_pending()
    assert (await tasks.cancel_task(other_task.pk)).status == "canceled"

    instances = WorkflowInstanceRepository()
    updated = await instances.update_status(
        instance_id=waiting.id, status=WorkflowStatus.FAILED, error="External service unavailable"
    )
    assert (updated.status, updated.error) == ("failed", "External service unavailable")
    assert await instances.update_status(uuid.uuid4(), WorkflowStatus.FAILED) is None
    assert [s.step_name for s in await StepExecutionRepository().find_failed()] == []

    definitions = WorkflowDefinitionRepository()
    assert await definitions.deactivate_version("approval", "1.0.0") is True
    assert await definitions.get_latest_version("approval") is None
    assert await definitions.deactivate_version("approval", "9.9.9") is False
    assert await definitions.activate_version("approval", "1.0.0") is True
    assert other.status == "waiting"


async def test_repositories__overdue_and_using_alias() -> None:
    engine = PersistentExecutionEngine(WorkflowRegistry(), using="default")
    waiting = await engine.start_workflow(approval())

    @sync_to_async
    def make_overdue():
        HumanTaskModel.objects.filter(instance_id=waiting.id).update(
            due_at=timezone.now() - timedelta(hours=1)
        )

    await make_overdue()
    repo = HumanTaskRepository(session=None, using="default")
    assert repo.using == "default"
    assert [t.instance_id for t in await repo.find_overdue()] == [waiting.id]
    assert await sync_to_async(WorkflowInstanceModel.objects.count)() == 1
    assert await sync_to_async(WorkflowDefinitionModel.objects.count)() == 1
