"""Leases: one drive at a time runs an instance; a lapsed lease is taken over."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.integration.helpers import Step, executions, human, marker, workflow
from workflows_app import Edge
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db


def _row(instance_id):
    return WorkflowInstanceModel.objects.get(pk=instance_id)


def test_lease__held_while_steps_run_and_released_after(engine) -> None:
    seen = []

    def look(ctx):
        row = _row(ctx.instance_id)
        seen.append((row.lease_owner is not None, row.lease_expires_at > timezone.now()))

    wf = workflow([Step("A", look), human("H", title="Check")], [Edge("A", "H")])
    instance = engine.start_workflow_sync(wf)
    assert seen == [(True, True)]
    row = _row(instance.id)
    assert (row.status, row.lease_owner, row.lease_expires_at, row.wake_at) == (
        "waiting",
        None,
        None,
        None,
    )


def test_lease__a_live_lease_of_another_drive_is_left_to_it(engine) -> None:
    after = marker("B")
    wf = workflow([human("H", title="Check"), after], [Edge("H", "B")])
    instance = engine.start_workflow_sync(wf)
    expires = timezone.now() + timedelta(minutes=5)
    WorkflowInstanceModel.objects.filter(pk=instance.id).update(
        lease_owner="other-drive", lease_expires_at=expires
    )

    result = engine.complete_human_task_sync(instance.id, "H", "u1", {})

    # The completion is committed; running on is the holder's job.
    assert result.status == "running"
    assert after.calls == 0
    row = _row(instance.id)
    assert (row.status, row.lease_owner, row.lease_expires_at) == (
        "running",
        "other-drive",
        expires,
    )
    assert [(t["step"], t["state"]) for t in row.tokens] == [("B", "ready")]
    assert row.wake_at is not None


def test_lease__a_lapsed_lease_is_taken_over_and_its_step_runs_again(engine) -> None:
    # A drive died while running B (its token "running", its lease lapsed). Completing the
    # other branch's task takes the instance over: B runs again, and the join once.
    b = marker("B")
    join = marker("J")
    wf = workflow(
        [marker("S"), b, human("H", title="Check"), join],
        [Edge("S", "H"), Edge("S", "B"), Edge("B", "J"), Edge("H", "J")],
    )
    with (
        override_settings(WORKFLOWS={"CHECKPOINT_INTERVAL": 0}),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(b, "fn", lambda ctx: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):  # the process "dies" inside B
            engine.start_workflow_sync(wf)
    [row] = WorkflowInstanceModel.objects.all()
    assert ("B", "running") in [(t["step"], t["state"]) for t in row.tokens]
    WorkflowInstanceModel.objects.filter(pk=row.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    b.calls = 0

    result = engine.complete_human_task_sync(row.pk, "H", "u1", {})

    assert result.status == "completed"
    assert b.calls == 1 and join.calls == 1
    assert [r.step_name for r in executions(row.pk) if r.step_name in ("B", "J")] == ["B", "J"]
    assert _row(row.pk).lease_owner is None
