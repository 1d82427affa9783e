"""The repository API on the model query sets (scenario 24), with query counts.

Rows are written directly with the ORM; ``created_at`` (auto_now_add) is then set with
``update()`` so that orderings do not depend on clock resolution.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from workflows_app import StepStatus, WorkflowStatus
from workflows_app.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def make_definition(name="wf", version="1.0.0", *, created=0, is_active=True):
    row = WorkflowDefinitionModel.objects.create(name=name, version=version, is_active=is_active)
    WorkflowDefinitionModel.objects.filter(pk=row.pk).update(created_at=at(created))
    return row


def make_instance(definition, *, status="running", created=0, started=None, **fields):
    row = WorkflowInstanceModel.objects.create(
        definition=definition,
        workflow_name=definition.name,
        workflow_version=definition.version,
        status=status,
        started_at=at(created if started is None else started),
        **fields,
    )
    WorkflowInstanceModel.objects.filter(pk=row.pk).update(created_at=at(created))
    row.refresh_from_db()
    return row


def make_execution(instance, step_name, *, status="succeeded", started=0, completed=None, **fields):
    return StepExecutionModel.objects.create(
        instance=instance,
        step_name=step_name,
        step_type="machine",
        status=status,
        started_at=at(started),
        completed_at=None if completed is None else at(completed),
        **fields,
    )


def make_task(instance, *, status="pending", created=0, due=None, **fields):
    execution = make_execution(
        instance, fields.get("step_name", "H"), status="waiting", started=created
    )
    fields.setdefault("step_name", "H")
    fields.setdefault("title", "Task")
    row = HumanTaskModel.objects.create(
        instance=instance,
        step_execution=execution,
        status=status,
        due_at=due,
        **fields,
    )
    HumanTaskModel.objects.filter(pk=row.pk).update(created_at=at(created))
    return row


@pytest.fixture
def definition():
    return make_definition()


# -- HumanTaskModel.objects ----------------------------------------------------------------


def pks(rows):
    return [row.pk for row in rows]


def test_find_pending__assignee_includes_unassigned__scenario_24(
    definition, django_assert_num_queries
) -> None:
    instance = make_instance(definition)
    mine = make_task(instance, assignee_id="u1", created=1)
    unassigned = make_task(instance, created=2)
    make_task(instance, assignee_id="u2", created=3)
    make_task(instance, assignee_id="u1", status="completed", created=4)
    make_task(instance, assignee_id="u1", status="canceled", created=5)
    with django_assert_num_queries(1):
        found = HumanTaskModel.objects.find_pending(assignee_id="u1")
    assert isinstance(found, list)
    assert pks(found) == [mine.pk, unassigned.pk]
    assert len(HumanTaskModel.objects.find_pending()) == 3


def test_find_pending__group_includes_ungrouped(definition, django_assert_num_queries) -> None:
    instance = make_instance(definition)
    managers = make_task(instance, assignee_group="managers", created=1)
    anyone = make_task(instance, created=2)
    finance = make_task(instance, assignee_group="finance", created=3)
    make_task(instance, assignee_group="legal", created=4)
    with django_assert_num_queries(1):
        found = HumanTaskModel.objects.find_pending(assignee_group="managers")
    assert pks(found) == [managers.pk, anyone.pk]
    with django_assert_num_queries(1):
        found = HumanTaskModel.objects.find_pending(assignee_group=["managers", "finance"])
    assert pks(found) == [managers.pk, anyone.pk, finance.pk]
    assert pks(HumanTaskModel.objects.find_pending(assignee_group=("finance",))) == [
        anyone.pk,
        finance.pk,
    ]


def test_find_pending__user_and_groups_and_tenant(definition, django_assert_num_queries) -> None:
    acme = make_instance(definition, tenant_id="acme")
    other = make_instance(definition, tenant_id="other")
    hit = make_task(acme, assignee_id="u1", assignee_group="managers", tenant_id="acme", created=1)
    open_task = make_task(acme, tenant_id="acme", created=2)
    make_task(acme, assignee_id="u1", assignee_group="legal", tenant_id="acme", created=3)
    make_task(acme, assignee_id="u2", assignee_group="managers", tenant_id="acme", created=4)
    make_task(other, assignee_id="u1", assignee_group="managers", tenant_id="other", created=5)
    with django_assert_num_queries(1):
        found = HumanTaskModel.objects.find_pending("u1", ["managers", "staff"], tenant_id="acme")
    assert pks(found) == [hit.pk, open_task.pk]
    assert len(HumanTaskModel.objects.find_pending(tenant_id="other")) == 1


def test_find_pending__earliest_due_first_undated_last(definition) -> None:
    instance = make_instance(definition)
    undated_old = make_task(instance, created=1)
    late = make_task(instance, created=2, due=at(500))
    soon = make_task(instance, created=3, due=at(100))
    undated_new = make_task(instance, created=4)
    assert pks(HumanTaskModel.objects.find_pending()) == [
        soon.pk,
        late.pk,
        undated_old.pk,
        undated_new.pk,
    ]


def test_find_overdue__strictly_past_and_pending__scenario_24(
    definition, django_assert_num_queries
) -> None:
    instance = make_instance(definition)
    now = timezone.now()
    older = make_task(instance, due=now - timedelta(days=2), created=1)
    old = make_task(instance, due=now - timedelta(minutes=1), created=2)
    make_task(instance, due=now + timedelta(hours=1), created=3)
    make_task(instance, created=4)
    make_task(instance, due=now - timedelta(days=3), status="completed", created=5)
    make_task(instance, due=now - timedelta(days=3), status="canceled", created=6)
    with django_assert_num_queries(1):
        found = HumanTaskModel.objects.find_overdue()
    assert pks(found) == [older.pk, old.pk]


def test_find_overdue__due_exactly_now_is_not_overdue(definition) -> None:
    instance = make_instance(definition)
    boundary = make_task(instance, due=at(10))
    assert HumanTaskModel.objects.find_overdue(now=at(10)) == []
    assert pks(HumanTaskModel.objects.find_overdue(now=at(10) + timedelta(microseconds=1))) == [
        boundary.pk
    ]


def test_find_by_instance__tasks_oldest_first(definition, django_assert_num_queries) -> None:
    instance, other = make_instance(definition), make_instance(definition)
    second = make_task(instance, created=2)
    first = make_task(instance, created=1)
    make_task(other, created=0)
    with django_assert_num_queries(1):
        found = HumanTaskModel.objects.find_by_instance(instance.pk)
    assert pks(found) == [first.pk, second.pk]


def test_complete_task__pending__scenario_24(definition, django_assert_max_num_queries) -> None:
    task = make_task(make_instance(definition))
    before = timezone.now()
    with django_assert_max_num_queries(2):
        done = HumanTaskModel.objects.complete_task(task.pk, "u1")
    assert isinstance(done, HumanTaskModel)
    assert (done.status, done.completed_by) == ("completed", "u1")
    assert done.completed_at >= before
    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("completed", "u1")


@pytest.mark.parametrize("status", ["completed", "canceled"])
def test_complete_task__not_pending_changes_nothing__scenario_24(definition, status) -> None:
    task = make_task(make_instance(definition), status=status, completed_by="earlier")
    before = HumanTaskModel.objects.filter(pk=task.pk).values().get()
    returned = HumanTaskModel.objects.complete_task(task.pk, "u2")
    assert returned.pk == task.pk
    assert (returned.status, returned.completed_by) == (status, "earlier")
    assert HumanTaskModel.objects.filter(pk=task.pk).values().get() == before


def test_complete_and_cancel_task__missing_id_returns_none(definition) -> None:
    import uuid

    assert HumanTaskModel.objects.complete_task(uuid.uuid4(), "u1") is None
    assert HumanTaskModel.objects.cancel_task(uuid.uuid4()) is None


def test_cancel_task__scenario_24(definition, django_assert_max_num_queries) -> None:
    instance = make_instance(definition)
    task, done = make_task(instance), make_task(instance, status="completed", completed_by="u1")
    with django_assert_max_num_queries(2):
        canceled = HumanTaskModel.objects.cancel_task(task.pk)
    assert canceled.status == "canceled"
    assert canceled.completed_by is None
    assert HumanTaskModel.objects.cancel_task(done.pk).status == "completed"
    assert HumanTaskModel.objects.get(pk=done.pk).completed_by == "u1"


# -- WorkflowInstanceModel.objects ------------------------------------------------------------


def test_find_by_workflow__page_and_total__scenario_24(
    definition, django_assert_num_queries
) -> None:
    other = make_definition("other")
    rows = [
        make_instance(definition, created=i, status="running" if i % 2 else "completed")
        for i in range(5)
    ]
    make_instance(other, created=10)
    with django_assert_num_queries(2):
        page, total = WorkflowInstanceModel.objects.find_by_workflow("wf", limit=2, offset=1)
    assert isinstance(page, list)
    assert total == 5
    assert pks(page) == [rows[3].pk, rows[2].pk]  # newest created first
    with django_assert_num_queries(2):
        page, total = WorkflowInstanceModel.objects.find_by_workflow("wf", WorkflowStatus.RUNNING)
    assert (pks(page), total) == ([rows[3].pk, rows[1].pk], 2)
    page, total = WorkflowInstanceModel.objects.find_by_workflow(
        workflow_name="wf", status="completed", limit=1, offset=0
    )
    assert (pks(page), total) == ([rows[4].pk], 3)
    assert WorkflowInstanceModel.objects.find_by_workflow("wf", offset=10) == ([], 5)
    assert WorkflowInstanceModel.objects.find_by_workflow("nope") == ([], 0)


def test_find_by_user__newest_first(definition, django_assert_num_queries) -> None:
    first = make_instance(definition, created_by="u1", created=1)
    second = make_instance(definition, created_by="u1", created=2, status="completed")
    make_instance(definition, created_by="u2", created=3)
    with django_assert_num_queries(1):
        found = WorkflowInstanceModel.objects.find_by_user("u1")
    assert pks(found) == [second.pk, first.pk]
    assert pks(WorkflowInstanceModel.objects.find_by_user("u1", WorkflowStatus.COMPLETED)) == [
        second.pk
    ]


def test_find_by_tenant__page_and_total(definition, django_assert_num_queries) -> None:
    rows = [
        make_instance(definition, tenant_id="acme", created=i, status="completed") for i in range(3)
    ]
    running = make_instance(definition, tenant_id="acme", created=5)
    make_instance(definition, tenant_id="other", created=6, status="completed")
    with django_assert_num_queries(2):
        page, total = WorkflowInstanceModel.objects.find_by_tenant(
            tenant_id="acme", status=WorkflowStatus.COMPLETED
        )
    assert (pks(page), total) == ([rows[2].pk, rows[1].pk, rows[0].pk], 3)
    page, total = WorkflowInstanceModel.objects.find_by_tenant("acme", limit=1)
    assert (pks(page), total) == ([running.pk], 4)


def test_find_running__running_and_waiting_oldest_started_first__scenario_24(
    definition, django_assert_num_queries
) -> None:
    waiting = make_instance(definition, status="waiting", created=5, started=1)
    running = make_instance(definition, status="running", created=1, started=2)
    for status in ("completed", "failed", "canceled", "pending"):
        make_instance(definition, status=status, created=0)
    with django_assert_num_queries(1):
        found = WorkflowInstanceModel.objects.find_running()
    assert pks(found) == [waiting.pk, running.pk]


def test_update_status(definition, django_assert_max_num_queries) -> None:
    instance = make_instance(definition, current_step="A")
    with django_assert_max_num_queries(2):
        updated = WorkflowInstanceModel.objects.update_status(
            instance.pk, WorkflowStatus.FAILED, error="External service unavailable"
        )
    assert (updated.status, updated.error, updated.current_step) == (
        "failed",
        "External service unavailable",
        "A",  # None leaves the step as it was
    )
    updated = WorkflowInstanceModel.objects.update_status(instance.pk, "running", current_step="B")
    assert (updated.status, updated.current_step, updated.error) == (
        "running",
        "B",
        "External service unavailable",
    )
    stored = WorkflowInstanceModel.objects.values("status", "current_step").get(pk=instance.pk)
    assert stored == {"status": "running", "current_step": "B"}


def test_update_status__missing_instance_returns_none() -> None:
    import uuid

    assert WorkflowInstanceModel.objects.update_status(uuid.uuid4(), "failed") is None


# -- StepExecutionModel.objects ---------------------------------------------------------------


def test_step_executions__find_by_instance_in_start_order(
    definition, django_assert_num_queries
) -> None:
    instance, other = make_instance(definition), make_instance(definition)
    b = make_execution(instance, "B", started=2)
    a = make_execution(instance, "A", started=1)
    make_execution(other, "A", started=0)
    with django_assert_num_queries(1):
        found = StepExecutionModel.objects.find_by_instance(instance.pk)
    assert pks(found) == [a.pk, b.pk]


def test_step_executions__find_by_step_name_newest(definition, django_assert_num_queries) -> None:
    instance = make_instance(definition)
    make_execution(instance, "A", started=1, status="failed")
    newest = make_execution(instance, "A", started=3)
    make_execution(instance, "B", started=4)
    with django_assert_num_queries(1):
        found = StepExecutionModel.objects.find_by_step_name(instance.pk, "A")
    assert found.pk == newest.pk
    assert StepExecutionModel.objects.find_by_step_name(instance.pk, "nope") is None


def test_step_executions__find_failed(definition, django_assert_num_queries) -> None:
    instance, other = make_instance(definition), make_instance(definition)
    early = make_execution(instance, "A", status=StepStatus.FAILED, started=1, completed=2)
    late = make_execution(instance, "B", status="failed", started=3, completed=9)
    elsewhere = make_execution(other, "A", status="failed", started=1, completed=5)
    make_execution(instance, "C", status="succeeded", started=4, completed=5)
    with django_assert_num_queries(1):
        found = StepExecutionModel.objects.find_failed(instance.pk)
    assert pks(found) == [late.pk, early.pk]  # newest completion first
    with django_assert_num_queries(1):
        everywhere = StepExecutionModel.objects.find_failed()
    assert pks(everywhere) == [late.pk, elsewhere.pk, early.pk]


# -- WorkflowDefinitionModel.objects ---------------------------------------------------------


def test_definitions__latest_is_highest_semver(django_assert_num_queries) -> None:
    # Inserted newest-version-first, so "latest inserted" and "highest string" both pick wrong.
    ten = make_definition("approval", "10.0.0", created=1)
    make_definition("approval", "9.1.0", created=2)
    make_definition("approval", "9.0.0", created=3)
    make_definition("other", "99.0.0", created=4)
    with django_assert_num_queries(1):
        latest = WorkflowDefinitionModel.objects.get_by_name("approval")
    assert latest.pk == ten.pk
    with django_assert_num_queries(1):
        assert WorkflowDefinitionModel.objects.get_latest_version("approval").version == "10.0.0"
    assert (
        WorkflowDefinitionModel.objects.get_by_name("approval", version="9.1.0").version == "9.1.0"
    )
    assert WorkflowDefinitionModel.objects.get_by_name("approval", "1.0.0") is None
    assert WorkflowDefinitionModel.objects.get_by_name("nope") is None
    assert WorkflowDefinitionModel.objects.get_latest_version("nope") is None


def test_definitions__deactivate_version__scenario_24(django_assert_max_num_queries) -> None:
    make_definition("approval", "9.1.0")
    make_definition("approval", "10.0.0")
    with django_assert_max_num_queries(1):
        assert WorkflowDefinitionModel.objects.deactivate_version("approval", "10.0.0") is True
    assert WorkflowDefinitionModel.objects.get_by_name("approval").version == "9.1.0"
    assert WorkflowDefinitionModel.objects.get_latest_version("approval").version == "9.1.0"
    assert WorkflowDefinitionModel.objects.get_by_name("approval", "10.0.0") is None
    hidden = WorkflowDefinitionModel.objects.get_by_name("approval", "10.0.0", active_only=False)
    assert (hidden.version, hidden.is_active) == ("10.0.0", False)
    assert (
        WorkflowDefinitionModel.objects.get_by_name("approval", active_only=False).version
        == "10.0.0"
    )
    assert WorkflowDefinitionModel.objects.deactivate_version("approval", "10.0.0") is True
    assert WorkflowDefinitionModel.objects.deactivate_version("approval", "3.0.0") is False
    assert WorkflowDefinitionModel.objects.deactivate_version("nope", "1.0.0") is False
    assert WorkflowDefinitionModel.objects.activate_version("approval", "10.0.0") is True
    assert WorkflowDefinitionModel.objects.get_latest_version("approval").version == "10.0.0"


def test_definitions__list_active_by_name_then_newest_version(django_assert_num_queries) -> None:
    make_definition("beta", "1.0.0")
    make_definition("alpha", "9.1.0")
    make_definition("alpha", "10.0.0")
    make_definition("alpha", "2.0.0", is_active=False)
    with django_assert_num_queries(1):
        found = WorkflowDefinitionModel.objects.list_active()
    assert isinstance(found, list)
    assert [(d.name, d.version) for d in found] == [
        ("alpha", "10.0.0"),
        ("alpha", "9.1.0"),
        ("beta", "1.0.0"),
    ]


def test_definitions__name_and_version_are_unique() -> None:
    from django.db import IntegrityError, transaction

    make_definition("approval", "1.0.0")
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkflowDefinitionModel.objects.create(name="approval", version="1.0.0")


# -- with rows the engine wrote ------------------------------------------------------------


def test_finders_on_engine_rows(registry) -> None:
    from tests.integration.helpers import Edge, human, marker, workflow
    from workflows_app.engine.persistent import PersistentExecutionEngine

    engine = PersistentExecutionEngine(registry)
    wf = workflow(
        [marker("A"), human("H", assignee_key="who", assignee_group="managers"), marker("C")],
        [Edge("A", "H"), Edge("H", "C")],
        name="inbox",
    )
    waiting = engine.start_workflow_sync(wf, {"who": "u1"}, tenant_id="acme", created_by="boss")
    done = engine.start_workflow_sync(wf, {"who": "u2"}, tenant_id="acme", created_by="boss")
    engine.complete_human_task_sync(done.id, "H", "u2", {})

    (task,) = HumanTaskModel.objects.find_pending(
        assignee_id="u1", assignee_group=["managers"], tenant_id="acme"
    )
    assert task.instance_id == waiting.id
    assert HumanTaskModel.objects.find_pending(assignee_id="u2") == []
    assert pks(WorkflowInstanceModel.objects.find_running()) == [waiting.id]
    page, total = WorkflowInstanceModel.objects.find_by_workflow("inbox", WorkflowStatus.COMPLETED)
    assert (pks(page), total) == ([done.id], 1)
    assert len(WorkflowInstanceModel.objects.find_by_user("boss")) == 2
    assert WorkflowInstanceModel.objects.find_by_tenant("acme")[1] == 2
    assert [e.step_name for e in StepExecutionModel.objects.find_by_instance(done.id)] == [
        "A",
        "H",
        "C",
    ]
    assert StepExecutionModel.objects.find_by_step_name(waiting.id, "H").status == "waiting"
    assert WorkflowDefinitionModel.objects.get_latest_version("inbox").version == "1.0.0"
