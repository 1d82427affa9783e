"""The curl tour of docs/rest-api.rst runs against a real server and does what it says."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.live_server import REPO_ROOT
from workflows_app.api import make_token
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

SCRIPT = REPO_ROOT / "docs" / "src" / "rest_api_curl.sh"


@pytest.mark.skipif(shutil.which("curl") is None, reason="the docs' examples need curl")
@pytest.mark.django_db(transaction=True)
def test_docs_curl__tour_runs(live_server_url: str, make_caller) -> None:
    caller = make_caller("mia", groups=["managers"], perms=["start_workflow"])
    env = {
        **os.environ,
        "BASE": f"{live_server_url}/api/workflows",
        "TOKEN": make_token(caller.user),
    }

    done = subprocess.run(
        ["bash", "-euo", "pipefail", str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    instance = WorkflowInstanceModel.objects.get(workflow_name="expense_approval")
    assert (instance.status, instance.created_by) == ("completed", "mia")
    assert instance.context_data["reimbursed"] == 120
    task = HumanTaskModel.objects.get(instance=instance)
    assert (task.status, task.completed_by) == ("completed", "mia")
    assert [(entry["action"], entry.get("comment")) for entry in task.activity] == [
        ("claimed", None),
        ("completed", "Receipt checked"),
    ]
