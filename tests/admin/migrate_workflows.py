"""Two versions of one workflow, for moving instances between them from the admin (the
admin tests register them; the browser tests' server does too, see
``tests/browser/migrate_asgi.py``).

``mig_doc`` 1.0.0 prepares a document and waits at ``review``, a task of the group
``reviewers``; 2.0.0 renames that step ``check`` (with a form), and adds a machine step
``stamp`` before ``publish``. Moving waiting instances needs the mapping review -> check.
"""

from __future__ import annotations

from workflows_app import BaseHumanStep, BaseMachineStep, Workflow


class Prepare(BaseMachineStep):
    name = "prepare"

    def execute(self, context):
        context.set("prepared", True)


class Review(BaseHumanStep):
    name = "review"
    title = "Review the document"
    assignee_group = "reviewers"


class Check(BaseHumanStep):
    name = "check"
    title = "Check the document"
    assignee_group = "reviewers"
    form_schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean", "title": "Approve"}},
        "required": ["approved"],
    }


class Stamp(BaseMachineStep):
    name = "stamp"

    def execute(self, context):
        context.set("stamped", True)


class Publish(BaseMachineStep):
    name = "publish"

    def execute(self, context):
        context.set("published", True)


class MigDocOne(Workflow):
    """A review, then publish."""

    name = "mig_doc"
    version = "1.0.0"
    steps = [Prepare, Review, Publish]
    edges = [("prepare", "review"), ("review", "publish")]


class MigDocTwo(Workflow):
    """The review is a check now, and the document is stamped before it is published."""

    name = "mig_doc"
    version = "2.0.0"
    steps = [Prepare, Check, Stamp, Publish]
    edges = [("prepare", "check"), ("check", "stamp"), ("stamp", "publish")]
