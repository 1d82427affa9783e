"""Every finder of the repository API is one statement that can use an index (PostgreSQL).

Sequential scans are switched off for the EXPLAIN, so the plan shows whether an index can
serve the query at all; on a table of a few rows the planner would rightly prefer a scan.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from workflows_app.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]

some_id = uuid.uuid4()

FINDERS = {
    "get_by_name": lambda: WorkflowDefinitionModel.objects.get_by_name("wf", "1.0.0"),
    "get_latest_version": lambda: WorkflowDefinitionModel.objects.get_latest_version("wf"),
    "list_active": lambda: WorkflowDefinitionModel.objects.list_active(),
    "find_by_workflow": lambda: WorkflowInstanceModel.objects.find_by_workflow("wf", "running"),
    "find_by_user": lambda: WorkflowInstanceModel.objects.find_by_user("u1"),
    "find_by_tenant": lambda: WorkflowInstanceModel.objects.find_by_tenant("t1", "waiting"),
    "find_running": lambda: WorkflowInstanceModel.objects.find_running(),
    "steps.find_by_instance": lambda: StepExecutionModel.objects.find_by_instance(some_id),
    "find_by_step_name": lambda: StepExecutionModel.objects.find_by_step_name(some_id, "a"),
    "find_failed": lambda: StepExecutionModel.objects.find_failed(),
    "find_failed(instance)": lambda: StepExecutionModel.objects.find_failed(some_id),
    "find_pending(user)": lambda: HumanTaskModel.objects.find_pending(assignee_id="u1"),
    "find_pending(groups)": lambda: HumanTaskModel.objects.find_pending(
        "u1", ["g1", "g2", "g3"], tenant_id="t1"
    ),
    "tasks.find_by_instance": lambda: HumanTaskModel.objects.find_by_instance(some_id),
    "find_overdue": lambda: HumanTaskModel.objects.find_overdue(),
}


@pytest.mark.parametrize("finder", FINDERS.values(), ids=FINDERS.keys())
def test_finder__uses_an_index(finder) -> None:
    with CaptureQueriesContext(connection) as queries:
        finder()
    statements = [q["sql"] for q in queries.captured_queries]
    assert 1 <= len(statements) <= 2  # the page, and the total where documented
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for sql in statements:
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan" not in plan, plan
