"""The engine's plain-SQL statements read and write exactly what the ORM does, on every database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import DEFAULT_DB_ALIAS

from tests.integration.helpers import human, marker, workflow
from workflows_app import Edge
from workflows_app.engine import statements
from workflows_app.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)

pytestmark = pytest.mark.django_db


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


@pytest.fixture
def waiting_instance(engine):
    wf = workflow([marker("A"), human("H", title="Check", assignee_key="who")], [Edge("A", "H")])
    return engine.start_workflow_sync(wf, {"who": "u1", "nested": {"a": [1, 2.5, None, "é"]}})


@pytest.mark.parametrize(
    ("model", "key"),
    [
        (WorkflowInstanceModel, "id"),
        (StepExecutionModel, "instance_id"),
        (HumanTaskModel, "instance_id"),
    ],
)
def test_select__gives_the_values_the_orm_gives(waiting_instance, model, key) -> None:
    got = statements.select(DEFAULT_DB_ALIAS, model, {key: waiting_instance.id}, ("created_at",))
    expected = list(model.objects.filter(**{key: waiting_instance.id}).order_by("created_at"))
    assert [_fields(o) for o in got] == [_fields(o) for o in expected]
    assert got and all(type(o) is model for o in got)


def test_select__nothing_matches(db) -> None:
    assert statements.select(DEFAULT_DB_ALIAS, WorkflowInstanceModel, {"id": uuid.uuid4()}) == []


def test_select_one__id_and_flag(waiting_instance) -> None:
    definition = WorkflowDefinitionModel.objects.get()
    found = statements.select_one(
        DEFAULT_DB_ALIAS,
        WorkflowDefinitionModel,
        ("id", "is_active"),
        {"name": definition.name, "version": definition.version},
    )
    assert found == (definition.pk, True)
    WorkflowDefinitionModel.objects.deactivate_version(definition.name, definition.version)
    found = statements.select_one(
        DEFAULT_DB_ALIAS, WorkflowDefinitionModel, ("id", "is_active"), {"name": definition.name}
    )
    assert found == (definition.pk, False)
    missing = statements.select_one(
        DEFAULT_DB_ALIAS, WorkflowDefinitionModel, ("id",), {"name": "nope"}
    )
    assert missing is None


def test_update__counts_only_matching_rows_and_round_trips_values(waiting_instance) -> None:
    row = WorkflowInstanceModel.objects.get()
    when = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    values = {"context_data": {"k": [1, {"x": None}]}, "completed_at": when, "error": None}
    stale = {"id": row.pk, "lock_version": row.lock_version + 5}
    assert statements.update(DEFAULT_DB_ALIAS, WorkflowInstanceModel, values, stale) == 0
    current = {"id": row.pk, "lock_version": row.lock_version}
    assert statements.update(DEFAULT_DB_ALIAS, WorkflowInstanceModel, values, current) == 1
    row.refresh_from_db()
    assert (row.context_data, row.completed_at, row.error) == ({"k": [1, {"x": None}]}, when, None)
    assert row.updated_at > row.created_at


def test_insert__fills_defaults_and_timestamps(waiting_instance) -> None:
    execution = StepExecutionModel.objects.filter(instance_id=waiting_instance.id).first()
    new_id = uuid.uuid4()
    statements.insert(
        DEFAULT_DB_ALIAS,
        HumanTaskModel,
        [
            {
                "id": new_id,
                "instance_id": waiting_instance.id,
                "step_execution_id": execution.pk,
                "step_name": "H",
                "title": "Second",
                "form_schema": {"type": "object"},
            }
        ],
    )
    task = HumanTaskModel.objects.get(pk=new_id)
    assert (task.status, task.priority, task.assignee_id) == ("pending", 0, None)
    assert task.form_schema == {"type": "object"}
    assert task.created_at is not None and task.created_at == task.updated_at
    statements.insert(DEFAULT_DB_ALIAS, HumanTaskModel, [])  # nothing to do, no statement
