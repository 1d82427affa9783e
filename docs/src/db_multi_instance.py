# A 2-of-3 approval: one task per board member, any rejection stops (docs/concepts/steps.rst).
from __future__ import annotations

from workflows_app import BaseHumanStep, BaseMachineStep, Workflow, WorkflowRegistry
from workflows_app.db import HumanTaskModel, PersistentExecutionEngine


class BoardApproval(BaseHumanStep):
    name = "board"
    title = "Approve the budget"
    form_schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}, "note": {"type": "string"}},
        "required": ["approved"],
    }
    for_each = "members"  # one task per item of the list in context["members"]
    completion_condition = "approved >= 2 or rejected >= 1"

    def get_assignee(self, context, item):  # each task goes to its member
        return item

    def get_title(self, context, item):
        return f"Approve the budget ({item})"


class Record(BaseMachineStep):
    name = "record"

    def execute(self, context):
        answers = [entry for entry in context.get("board_results") if entry is not None]
        context.set("accepted", all(entry["data"]["approved"] for entry in answers))


class Budget(Workflow):
    name = "budget"
    steps = [BoardApproval, Record]
    edges = [("board", "record")]


registry = WorkflowRegistry()
registry.register(Budget)
engine = PersistentExecutionEngine(registry)
instance = engine.start_workflow_sync("budget", {"members": ["ann", "bob", "cid"]})

tasks = HumanTaskModel.objects.filter(instance_id=instance.id).order_by("multi_index")
ann, bob, cid = tasks
assert [(t.assignee_id, t.multi_index, t.multi_total) for t in tasks] == [
    ("ann", 0, 3),
    ("bob", 1, 3),
    ("cid", 2, 3),
]

engine.complete_task_sync(cid.pk, "cid", {"approved": True})  # one approval: still waiting
instance = engine.complete_task_sync(ann.pk, "ann", {"approved": True, "note": "fine"})

# Two approvals: the step is done, bob's task is canceled, the workflow runs on.
assert instance.status == "completed"
assert instance.context.get("accepted") is True
assert instance.context.get("board_results") == [
    {"item": "ann", "user": "ann", "data": {"approved": True, "note": "fine"}},
    None,  # bob did not answer
    {"item": "cid", "user": "cid", "data": {"approved": True}},
]
bob.refresh_from_db()
assert bob.status == "canceled"
assert "completion condition" in bob.activity[-1]["reason"]
