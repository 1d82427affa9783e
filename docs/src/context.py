# The context: data shared by steps, the history, and string conditions.
from __future__ import annotations

from workflows_app import BaseMachineStep, LocalExecutionEngine, Workflow, WorkflowRegistry


class Score(BaseMachineStep):
    name = "score"

    def execute(self, context):
        context.set("score", len(context.get("applicant", "")) * 10)
        return {"scored": True}


class Accept(BaseMachineStep):
    name = "accept"

    def execute(self, context):
        context.set("decision", "accepted")


class Decline(BaseMachineStep):
    name = "decline"

    def execute(self, context):
        context.set("decision", "declined")


class Screening(Workflow):
    name = "screening"
    steps = [Score, Accept, Decline]
    edges = [
        ("score", "accept", "context.get('score', 0) >= 50"),
        ("score", "decline", "score < 50"),
    ]


registry = WorkflowRegistry()
registry.register(Screening)
engine = LocalExecutionEngine(registry)

instance = engine.start_workflow_sync("screening", {"applicant": "Ada Lovelace"})
context = instance.context
assert context.get("decision") == "accepted"
assert context.has_step_executed("score") and not context.has_step_executed("decline")
last = context.get_last_execution("score")
assert last.status == "succeeded" and last.result == {"scored": True}
assert context.metadata == {"workflow_name": "screening", "workflow_version": "1.0.0"}
