"""Definition rows, versions and deactivation (scenario 23)."""

from __future__ import annotations

import pytest

from tests.integration.helpers import Edge, executions, human, marker, tasks, workflow
from workflows_app import WorkflowStateError
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import WorkflowDefinitionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def test_definition_row_created_once_and_reused__scenario_23(engine) -> None:
    wf = workflow(
        [marker("A"), marker("B")], [Edge("A", "B")], name="rows", description="Two steps"
    )
    first = engine.start_workflow_sync(wf, tenant_id="t1", created_by="u1")
    second = engine.start_workflow_sync(wf)
    (definition,) = WorkflowDefinitionModel.objects.all()
    assert (definition.name, definition.version, definition.is_active) == ("rows", "1.0.0", True)
    assert definition.description == "Two steps"
    ids = set(WorkflowInstanceModel.objects.values_list("definition_id", flat=True))
    assert ids == {definition.pk}
    assert {first.workflow_id, second.workflow_id} == {definition.pk}
    assert definition.instances.count() == 2


def test_one_definition_row_per_version(engine) -> None:
    engine.start_workflow_sync(workflow([marker("A")], [], name="versions", version="1.0.0"))
    engine.start_workflow_sync(workflow([marker("A")], [], name="versions", version="2.0.0"))
    engine.start_workflow_sync(workflow([marker("A")], [], name="versions", version="1.0.0"))
    assert sorted(WorkflowDefinitionModel.objects.values_list("version", flat=True)) == [
        "1.0.0",
        "2.0.0",
    ]


def test_definition_json_with_callable_and_string_conditions__scenario_23(engine) -> None:
    wf = workflow(
        [marker("check"), marker("yes"), marker("no"), marker("end")],
        [
            Edge("check", "yes", lambda ctx: True),
            Edge("check", "no", "amount > 10"),
            Edge("yes", "end"),
        ],
        name="conditional",
        version="2.1.0",
        description="Callable and string conditions",
        terminal={"no", "end"},
    )
    instance = engine.start_workflow_sync(wf, {"amount": 1})
    assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "completed"
    document = WorkflowDefinitionModel.objects.get(name="conditional").definition_json
    assert document == {
        "name": "conditional",
        "version": "2.1.0",
        "description": "Callable and string conditions",
        "steps": ["check", "yes", "no", "end"],
        "edges": [
            {"source": "check", "target": "yes", "condition": "conditional"},
            {"source": "check", "target": "no", "condition": "amount > 10"},
            {"source": "yes", "target": "end", "condition": None},
        ],
        "initial_step": "check",
        "terminal_steps": ["end", "no"],
    }


def test_sync_definitions_writes_every_registered_version(engine, registry) -> None:
    registry.register(workflow([marker("A")], [], name="synced", version="1.0.0"))
    registry.register(
        workflow([marker("A"), marker("B")], [Edge("A", "B")], name="synced", version="1.1.0")
    )
    rows = engine.sync_definitions()
    assert sorted(r.version for r in rows) == ["1.0.0", "1.1.0"]
    assert WorkflowDefinitionModel.objects.count() == 2
    engine.sync_definitions()
    assert WorkflowDefinitionModel.objects.count() == 2
    assert WorkflowDefinitionModel.objects.get(version="1.1.0").definition_json["steps"] == [
        "A",
        "B",
    ]


def test_sync_definitions_keeps_a_deactivated_version_deactivated(engine, registry) -> None:
    registry.register(workflow([marker("A")], [], name="synced", version="1.0.0"))
    registry.register(workflow([marker("A")], [], name="synced", version="2.0.0"))
    engine.sync_definitions()
    assert WorkflowDefinitionModel.objects.deactivate_version("synced", "1.0.0") is True
    engine.sync_definitions()  # syncing must not fail because an administrator retired a version
    assert dict(WorkflowDefinitionModel.objects.values_list("version", "is_active")) == {
        "1.0.0": False,
        "2.0.0": True,
    }


# -- deactivation and version pinning ---------------------------------------------------


def approval(version, last):
    return workflow(
        [marker("A"), human("H"), marker(last)],
        [Edge("A", "H"), Edge("H", last)],
        name="pinned",
        version=version,
    )


def test_deactivated_version_starts_nothing_new(engine) -> None:
    wf = approval("1.0.0", "C")
    engine.start_workflow_sync(wf)
    assert WorkflowDefinitionModel.objects.deactivate_version("pinned", "1.0.0") is True
    before = WorkflowInstanceModel.objects.count()
    with pytest.raises(WorkflowStateError) as excinfo:
        engine.start_workflow_sync(wf)
    assert isinstance(excinfo.value, ValueError)
    assert "pinned" in str(excinfo.value)
    assert WorkflowInstanceModel.objects.count() == before
    with pytest.raises(WorkflowStateError):
        engine.start_workflow_sync("pinned", version="1.0.0")


def test_deactivated_version_still_resumes_its_waiting_instances(engine) -> None:
    wf = approval("1.0.0", "C")
    waiting = engine.start_workflow_sync(wf)
    WorkflowDefinitionModel.objects.deactivate_version("pinned", "1.0.0")
    engine.complete_human_task_sync(waiting.id, "H", "u1", {"ok": True})
    row = WorkflowInstanceModel.objects.get(pk=waiting.id)
    assert row.status == "completed"
    assert [r.step_name for r in executions(waiting.id)] == ["A", "H", "C"]
    assert WorkflowDefinitionModel.objects.get(name="pinned").is_active is False


def test_deactivated_version_can_still_be_cancelled(engine) -> None:
    waiting = engine.start_workflow_sync(approval("1.0.0", "C"))
    WorkflowDefinitionModel.objects.deactivate_version("pinned", "1.0.0")
    engine.cancel_workflow_sync(waiting.id, "retired")
    assert WorkflowInstanceModel.objects.get(pk=waiting.id).status == "canceled"
    assert [t.status for t in tasks(waiting.id)] == ["canceled"]


def test_other_versions_start_while_one_is_deactivated(engine, registry) -> None:
    registry.register(approval("1.0.0", "C"))
    engine.start_workflow_sync("pinned", version="1.0.0")
    WorkflowDefinitionModel.objects.deactivate_version("pinned", "1.0.0")
    registry.register(approval("2.0.0", "D"))
    started = engine.start_workflow_sync("pinned")
    assert started.workflow_version == "2.0.0"
    assert WorkflowInstanceModel.objects.get(pk=started.id).definition.version == "2.0.0"


def test_reactivated_version_starts_again(engine) -> None:
    wf = approval("1.0.0", "C")
    engine.start_workflow_sync(wf)
    WorkflowDefinitionModel.objects.deactivate_version("pinned", "1.0.0")
    assert WorkflowDefinitionModel.objects.activate_version("pinned", "1.0.0") is True
    assert engine.start_workflow_sync(wf).status == "waiting"


def test_instance_is_pinned_to_its_version(engine, registry) -> None:
    v1 = approval("1.0.0", "C")
    registry.register(v1)
    started = engine.start_workflow_sync("pinned")
    assert started.workflow_version == "1.0.0"

    v2 = approval("2.0.0", "D")
    registry.register(v2)
    newer = engine.start_workflow_sync("pinned")
    assert newer.workflow_version == "2.0.0"

    engine.complete_human_task_sync(started.id, "H", "u1", {})
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.workflow_version, row.definition.version) == (
        "completed",
        "1.0.0",
        "1.0.0",
    )
    assert [r.step_name for r in executions(started.id)] == ["A", "H", "C"]
    assert v2.get_definition().steps["D"].calls == 0

    engine.complete_human_task_sync(newer.id, "H", "u1", {})
    assert [r.step_name for r in executions(newer.id)] == ["A", "H", "D"]


def test_instance_of_an_unregistered_version_cannot_resume_silently_on_another(registry) -> None:
    """Resuming looks the definition up by the instance's name and version, never the latest."""
    engine = PersistentExecutionEngine(registry)
    started = engine.start_workflow_sync(approval("1.0.0", "C"))
    registry.unregister("pinned", "1.0.0")
    registry.register(approval("2.0.0", "D"))
    with pytest.raises(KeyError):
        engine.complete_human_task_sync(started.id, "H", "u1", {})
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert row.status == "waiting"
    assert [t.status for t in tasks(started.id)] == ["pending"]
