# Send back for rework, and withdraw (docs/rework.rst).
from __future__ import annotations

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    Workflow,
    WorkflowRegistry,
    WorkflowStateError,
)
from workflows_app.db import HumanTaskModel, PersistentExecutionEngine


class WriteReport(BaseHumanStep):
    name = "write"
    title = "Write the report"
    assignee_group = "analysts"


class Format(BaseMachineStep):
    name = "format"

    def execute(self, context):
        context.set("formatted", True)


class CheckReport(BaseHumanStep):
    name = "check"
    title = "Check the report"
    assignee_group = "checkers"
    send_back_to = ["write", "format"]  # earlier steps of the same branch


class Publish(BaseMachineStep):
    name = "publish"

    def execute(self, context):
        context.set("published", True)


class Report(Workflow):
    name = "report"
    steps = [WriteReport, Format, CheckReport, Publish]
    edges = [("write", "format"), ("format", "check"), ("check", "publish")]


registry = WorkflowRegistry()
registry.register(Report)  # send_back_to is checked here
engine = PersistentExecutionEngine(registry)


def pending(instance_id, step):
    return HumanTaskModel.objects.get(instance_id=instance_id, step_name=step, status="pending")


instance = engine.start_workflow_sync("report", created_by="ann")
engine.complete_task_sync(pending(instance.id, "write").pk, "ann", {"text": "v1"})

# The checker sends the report back to be written again, with a reason.
check = pending(instance.id, "check")
engine.send_back_sync(check.pk, "write", "The Q3 figures are missing", by="carl")

check.refresh_from_db()
assert check.status == "canceled"
again = pending(instance.id, "write")
assert again.assignee_id == "ann"  # whoever wrote it last time
[sent_back] = again.activity
assert (sent_back["from_step"], sent_back["reason"]) == ("check", "The Q3 figures are missing")

# The rework runs on as the first attempt did: format runs again, then a new check.
engine.complete_task_sync(again.pk, "ann", {"text": "v2"})
done = engine.complete_task_sync(pending(instance.id, "check").pk, "carl", {})
assert done.status == "completed"
assert [e.step_name for e in done.context.step_history] == [
    "write",
    "format",
    "check",
    "write",
    "format",
    "check",
    "publish",
]

# Whoever started an instance may withdraw it, until somebody works on it.
second = engine.start_workflow_sync("report", created_by="ann")
try:
    engine.withdraw_sync(second.id, by="bob")
except WorkflowStateError as refused:
    assert "only the user who started it (ann)" in str(refused)
withdrawn = engine.withdraw_sync(second.id, by="ann")
assert (withdrawn.status, withdrawn.error) == ("canceled", "Canceled: withdrawn by ann")
