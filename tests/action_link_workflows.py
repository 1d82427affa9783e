"""The workflow of the action link tests (unit, integration and browser): someone writes a
report, then a reviewer approves it with a yes/no form; a four-eyes rule keeps who wrote
it and who started the instance from approving it. Registered in the default registry by
the tests that use it (and by ``tests/browser/actions_asgi.py``)."""

from __future__ import annotations

from datetime import timedelta

from workflows_app import BaseHumanStep, Workflow


class WriteReport(BaseHumanStep):
    name = "write"
    title = "Write the report"
    assignee_group = "reviewers"


class ApproveReport(BaseHumanStep):
    name = "approve"
    title = "Approve the report"
    description = "Read the report, then approve or reject it."
    assignee_group = "reviewers"
    reminder_in = timedelta(days=1)
    form_schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean", "title": "Approved"}},
        "required": ["approved"],
    }
    exclude_completers_of = ["write"]
    exclude_starter = True


class ActionLinkReport(Workflow):
    """Write, then approve from an e-mail."""

    name = "action_link_report"
    version = "1.0.0"
    steps = [WriteReport, ApproveReport]
    edges = [("write", "approve")]
