"""``manage.py workflows_migrate``: the diff, the plan's problems (nothing written), the
counts and each reason, progress lines, and the operator's mistakes as clear errors."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.integration.helpers import Edge, human, marker, snapshot, tasks, workflow
from workflows_app.core import registry as registry_module
from workflows_app.engine import migrations
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def engine(monkeypatch):
    """The command uses the default registry: give it a fresh one with two versions of
    'mig': 1.0.0 waits at 'H'; 2.0.0 calls it 'Check' and adds 'N' after it."""
    from workflows_app import WorkflowRegistry
    from workflows_app.engine.persistent import PersistentExecutionEngine

    fresh = WorkflowRegistry()
    monkeypatch.setattr(registry_module, "default_registry", fresh)
    monkeypatch.setattr("workflows_app.engine.persistent.default_registry", fresh, raising=True)
    v1 = workflow(
        [marker("A"), human("H", title="Old"), marker("B")],
        [Edge("A", "H"), Edge("H", "B")],
        name="mig",
        version="1.0.0",
    )
    v2 = workflow(
        [marker("A"), human("Check", title="New"), marker("N"), marker("B")],
        [Edge("A", "Check"), Edge("Check", "N"), Edge("N", "B")],
        name="mig",
        version="2.0.0",
    )
    fresh.register(v1)
    fresh.register(v2)
    engine = PersistentExecutionEngine(fresh)
    engine.v1 = v1
    return engine


def run(*argv: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("workflows_migrate", *argv, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


PLAN = ["mig", "--from", "1.0.0", "--to", "2.0.0"]


def test_workflows_migrate__moves_and_reports_each_skipped_one(engine) -> None:
    waiting = engine.start_workflow_sync(engine.v1)
    done = engine.start_workflow_sync(engine.v1)
    engine.complete_human_task_sync(done.id, "H", "someone", {})
    assert WorkflowInstanceModel.objects.get(pk=done.id).status == "completed"

    out, _err = run(
        *PLAN, "--map", "H=Check", "--instance", str(waiting.id), "--instance", str(done.id)
    )

    assert "mig 1.0.0 -> 2.0.0" in out
    assert "  steps added: N" in out
    assert "  steps renamed: H -> Check" in out
    assert "  edges added: Check -> N, N -> B" in out
    assert "Moved 1 instance(s); skipped 1; failed 0." in out
    assert f"  skipped {done.id}: it is completed" in out
    row = WorkflowInstanceModel.objects.get(pk=waiting.id)
    assert row.workflow_version == "2.0.0"
    assert row.metadata["migrations"][-1]["by"].startswith("manage.py workflows_migrate")
    assert [task.step_name for task in tasks(waiting.id)] == ["Check"]


def test_workflows_migrate__dry_run_writes_nothing(engine) -> None:
    first = engine.start_workflow_sync(engine.v1)
    engine.start_workflow_sync(engine.v1)
    before = snapshot()

    out, _err = run(*PLAN, "--map", "H=Check", "--dry-run")

    assert "Dry run, nothing written: 2 instance(s) can move, 0 cannot." in out
    assert snapshot() == before
    assert WorkflowInstanceModel.objects.get(pk=first.id).workflow_version == "1.0.0"


def test_workflows_migrate__dry_run_gives_each_reason(engine) -> None:
    missing = uuid.uuid4()

    out, _err = run(*PLAN, "--map", "H=Check", "--dry-run", "--instance", str(missing))

    assert "0 instance(s) can move, 1 cannot." in out
    assert f"  cannot move {missing}: no such instance" in out


def test_workflows_migrate__a_plan_with_problems_exits_non_zero_and_writes_nothing(
    engine,
) -> None:
    engine.start_workflow_sync(engine.v1)
    before = snapshot()
    err = StringIO()

    with pytest.raises(CommandError, match=r"The plan has 1 problem\(s\): nothing was moved"):
        call_command("workflows_migrate", *PLAN, stdout=StringIO(), stderr=err)

    assert "Problem: step 'H' (human) is not in version 2.0.0" in err.getvalue()
    assert snapshot() == before


def test_workflows_migrate__tenant_selects_only_its_instances(engine) -> None:
    ours = engine.start_workflow_sync(engine.v1, tenant_id="acme")
    theirs = engine.start_workflow_sync(engine.v1, tenant_id="globex")

    out, _err = run(*PLAN, "--map", "H=Check", "--tenant", "acme")

    assert "Moved 1 instance(s); skipped 0; failed 0." in out
    assert WorkflowInstanceModel.objects.get(pk=ours.id).workflow_version == "2.0.0"
    assert WorkflowInstanceModel.objects.get(pk=theirs.id).workflow_version == "1.0.0"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--map", "H"], "'H' is not OLD=NEW"),
        (["--map", "=Check"], "'=Check' is not OLD=NEW"),
        (["--map", "H=Check", "--map", "H=A"], "--map sends step 'H' to 'Check' and 'A'"),
        (["--instance", "not-a-uuid"], "'not-a-uuid' is not an instance id"),
    ],
)
def test_workflows_migrate__bad_arguments_are_clear_errors(engine, argv, message) -> None:
    before = snapshot()
    with pytest.raises(CommandError, match=message):
        run(*PLAN, *argv)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope", "--from", "1.0.0", "--to", "2.0.0"], "Workflow 'nope' not found"),
        (["mig", "--from", "1.0.0", "--to", "9.9.9"], "Workflow 'mig' version '9.9.9' not found"),
    ],
)
def test_workflows_migrate__unknown_workflow_or_version(engine, argv, message) -> None:
    with pytest.raises(CommandError, match=message):
        run(*argv)


def test_workflows_migrate__progress_lines_for_large_runs(engine, monkeypatch) -> None:
    monkeypatch.setattr(migrations, "BATCH", 2)
    for _ in range(5):
        engine.start_workflow_sync(engine.v1)

    out, err = run(*PLAN, "--map", "H=Check")

    assert "Moved 5 instance(s)" in out
    assert err.splitlines() == ["... 2 instance(s)", "... 4 instance(s)", "... 5 instance(s)"]
