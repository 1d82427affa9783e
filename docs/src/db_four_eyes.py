# Four-eyes rules and task comments (docs/human-tasks.rst).
from __future__ import annotations

from workflows_app import BaseHumanStep, ExcludedUserError, Workflow, WorkflowRegistry
from workflows_app.db import HumanTaskModel, PersistentExecutionEngine


class Prepare(BaseHumanStep):
    name = "prepare"
    title = "Prepare the payment"
    assignee_group = "finance"


class Approve(BaseHumanStep):
    name = "approve"
    title = "Approve the payment"
    assignee_group = "finance"
    exclude_completers_of = ["prepare"]  # who prepared it does not approve it
    exclude_starter = True  # nor does who asked for it


class Payment(Workflow):
    name = "payment"
    steps = [Prepare, Approve]
    edges = [("prepare", "approve")]


registry = WorkflowRegistry()
registry.register(Payment)  # the rules' step names are checked here
engine = PersistentExecutionEngine(registry)


def pending(instance_id, step):
    return HumanTaskModel.objects.get(instance_id=instance_id, step_name=step, status="pending")


instance = engine.start_workflow_sync("payment", {"amount": 900}, created_by="sam")
engine.complete_task_sync(pending(instance.id, "prepare").pk, "ann", {"iban": "DE02..."})
approve = pending(instance.id, "approve")

# Neither ann (who prepared it) nor sam (who started it) may claim or complete it,
# whatever their permissions: the engine refuses, and their inboxes do not list it.
for excluded in ("ann", "sam"):
    try:
        engine.complete_task_sync(approve.pk, excluded, {"approved": True})
    except ExcludedUserError as refused:
        print(refused)  # User 'ann' may not complete task '...': a four-eyes rule ...
    else:
        raise AssertionError("a four-eyes rule let an excluded user through")

# Comments: anyone who may see the task may add one; its author may edit it for
# WORKFLOWS["COMMENT_EDIT_SECONDS"] (5 minutes by default).
question = engine.add_task_comment_sync(approve.pk, "bob", "Is the IBAN checked?")
engine.add_task_comment_sync(approve.pk, "ann", "Yes, against the invoice.")
engine.edit_task_comment_sync(approve.pk, question.pk, "bob", "Is the IBAN verified?")
thread = engine.task_comments_sync(approve.pk)
assert [(c.author, c.text) for c in thread] == [
    ("bob", "Is the IBAN verified?"),
    ("ann", "Yes, against the invoice."),
]
assert thread[0].edits[0]["text"] == "Is the IBAN checked?"  # what the edit replaced

done = engine.complete_task_sync(approve.pk, "bob", {"approved": True})
assert done.status == "completed"
