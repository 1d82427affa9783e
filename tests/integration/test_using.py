"""``using=`` keeps the engine, the managers and the repositories on one database alias."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from tests.integration.helpers import human, marker, workflow
from workflows_app import Edge
from workflows_app.db import HumanTaskRepository, PersistentExecutionEngine
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db(databases=["default", "secondary"])


def test_using__every_row_goes_to_the_named_alias(registry) -> None:
    engine = PersistentExecutionEngine(registry, using="secondary")
    wf = workflow(
        [marker("A"), human("H", title="Check"), marker("B")], [Edge("A", "H"), Edge("H", "B")]
    )

    instance = engine.start_workflow_sync(wf, {"x": 1})
    assert engine.get_instance_sync(instance.id).status == "waiting"
    [task] = HumanTaskModel.objects.using("secondary").find_pending()
    assert not HumanTaskModel.objects.using("default").exists()
    assert async_to_sync(HumanTaskRepository(using="secondary").find_pending)() == [task]

    done = engine.complete_human_task_sync(instance.id, "H", "u1", {"ok": True})
    assert done.status == "completed"
    assert (
        WorkflowInstanceModel.objects.using("secondary").get(pk=instance.id).status == "completed"
    )
    assert (
        StepExecutionModel.objects.using("secondary").filter(instance_id=instance.id).count() == 3
    )
    assert not WorkflowInstanceModel.objects.using("default").exists()
    assert not StepExecutionModel.objects.using("default").exists()


def test_using__an_instance_of_another_alias_is_not_found(registry) -> None:
    from workflows_app import WorkflowInstanceNotFoundError

    wf = workflow([marker("A")], [])
    instance = PersistentExecutionEngine(registry, using="secondary").start_workflow_sync(wf)
    with pytest.raises(WorkflowInstanceNotFoundError):
        PersistentExecutionEngine(registry).get_instance_sync(instance.id)
