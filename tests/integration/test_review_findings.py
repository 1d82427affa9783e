"""Regression tests from a review of the persistent engine, and guarantees it checked.

Each ``test_regression__...`` test failed before its fix; ``test_holds__...`` tests pin a
guarantee that held under review and had no test yet. Concurrent interleavings are
reproduced deterministically in one thread: the "other process" runs at the exact point
of the race window (inside a step, or just before the engine's save).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import override_settings

from tests.integration.helpers import Step, executions, human, marker, tasks, workflow
from workflows_app import (
    BaseHumanStep,
    Edge,
    WebhookStep,
    WorkflowStateError,
)
from workflows_app.core import clock as clock_module
from workflows_app.core.exceptions import WorkflowsError as WorkflowError
from workflows_app.core.steps import Escalation
from workflows_app.engine import deadlines
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.engine.worker import Worker
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

T0 = datetime(2030, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    now = {"t": T0}
    monkeypatch.setattr(clock_module, "utcnow", lambda: now["t"])
    return now


def _row(instance_id: Any) -> WorkflowInstanceModel:
    return WorkflowInstanceModel.objects.get(pk=instance_id)


def _describe(instance_id: Any) -> str:
    row = _row(instance_id)
    return (
        f"status={row.status!r} lease_owner={row.lease_owner!r} wake_at={row.wake_at} "
        f"tokens={[(t['step'], t['state']) for t in row.tokens]} "
        f"executions={[(r.step_name, r.status) for r in executions(instance_id)]}"
    )


def _boom(ctx: Any) -> None:
    raise RuntimeError("user code broke")


# -- 1. user code that raises outside run_step's try: guard, task assignment ----------------


@pytest.mark.django_db
def test_regression__guard_that_raises_escapes_and_leaves_instance_running_under_a_lease(
    engine,
) -> None:
    """``run_step`` calls ``can_execute`` before its ``try``: a guard that raises escapes
    ``_drive`` as a raw exception, the batch (A's result) is lost, and the instance stays
    ``running`` with A's token claimed under a live lease. After the lease lapses a worker
    runs A again and hits the same error: forever, never ``failed``."""
    a = marker("A")
    wf = workflow([a, Step("G", guard=_boom)], [Edge("A", "G")])
    try:
        instance = engine.start_workflow_sync(wf)
    except Exception as exc:
        [row] = WorkflowInstanceModel.objects.all()
        pytest.fail(f"raw {exc!r} escaped the engine; instance left as {_describe(row.pk)}")
    assert instance.status == "failed"
    row = _row(instance.id)
    assert (row.status, row.lease_owner) == ("failed", None)
    assert [(r.step_name, r.status) for r in executions(instance.id)] == [
        ("A", "succeeded"),
        ("G", "failed"),
    ]


class _BrokenAssignment(BaseHumanStep):
    def get_assignee(self, context: Any) -> str:  # sync override: computed without a loop
        raise LookupError("no such approver")


@pytest.mark.django_db
def test_regression__task_assignment_that_raises_escapes_and_leaves_instance_stuck(engine) -> None:
    """``_drive`` calls ``_task_fields`` (``get_assignee``, ``get_due_date``...: user code)
    without catching: the caller gets a raw ``LookupError``, A's committed-to-be result is
    lost, and the instance is left ``running`` with a live lease and A's token claimed."""
    a = marker("A")
    wf = workflow([a, _BrokenAssignment(name="H", title="Approve")], [Edge("A", "H")])
    try:
        instance = engine.start_workflow_sync(wf)
    except Exception as exc:
        [row] = WorkflowInstanceModel.objects.all()
        pytest.fail(f"raw {exc!r} escaped the engine; instance left as {_describe(row.pk)}")
    row = _row(instance.id)
    assert row.status == "failed"
    assert row.lease_owner is None


@pytest.mark.django_db
def test_regression__task_assignment_that_raises_makes_workers_rerun_steps_forever(clock) -> None:
    """Worker mode: each time the lease lapses a worker reclaims the instance, runs A again
    and dies on ``get_assignee`` again. A runs once per ``LEASE_SECONDS``, forever."""
    from workflows_app import WorkflowRegistry

    registry = WorkflowRegistry()
    engine = PersistentExecutionEngine(registry)
    a = marker("A")
    wf = workflow([a, _BrokenAssignment(name="H", title="Approve")], [Edge("A", "H")])
    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
        instance = engine.start_workflow_sync(wf)
        for _ in range(3):
            try:
                Worker(engine).run_instance(instance.id)
            except Exception:
                pass  # Worker._loop logs it and goes on
            clock["t"] += timedelta(seconds=61)  # the lease lapses
    assert a.calls <= 1, f"A ran {a.calls} times; instance: {_describe(instance.id)}"


# -- 2. a parallel branch revives a failed instance --------------------------------------


def _failed_with_a_waiting_branch(engine, **human_options):
    """S forks into H (a human step) and F (fails): the instance fails with H waiting."""
    after = marker("E")
    wf = workflow(
        [
            marker("S"),
            human("H", title="Check", **human_options),
            Step("F", _boom),
            after,
            marker("X"),
        ],
        [Edge("S", "H"), Edge("S", "F"), Edge("H", "E")],
        terminal={"E", "X"},
    )
    instance = engine.start_workflow_sync(wf)
    assert instance.status == "failed"
    assert [(t.step, t.state) for t in instance.tokens] == [("H", "waiting"), ("F", "failed")]
    return instance, after


@pytest.mark.django_db
def test_regression__completing_a_parallel_task_revives_a_failed_instance(engine) -> None:
    """``semantics.resume``/``waiting_token`` never check the instance status: completing
    the task of a branch that still waits sets a *failed* (terminal) instance to running,
    runs E, and ends it ``completed`` with its error still set and a failed token left."""
    instance, after = _failed_with_a_waiting_branch(engine)
    try:
        engine.complete_human_task_sync(instance.id, "H", "u1", {})
    except WorkflowError:
        pass
    else:
        row = _row(instance.id)
        pytest.fail(f"a failed instance was resumed: {_describe(instance.id)} error={row.error!r}")
    assert _row(instance.id).status == "failed"
    assert after.calls == 0


@pytest.mark.django_db
def test_regression__an_overdue_escalation_revives_a_failed_instance(engine, clock) -> None:
    """The same through the worker, with nobody acting: the failed instance's task stays
    pending, ``mark_overdue`` follows its escalation edge, and the failed instance runs
    on (step X) and completes."""
    instance, _ = _failed_with_a_waiting_branch(
        engine, due_in=timedelta(hours=1), escalation=Escalation(goto="X")
    )
    clock["t"] += timedelta(hours=2)
    Worker(engine, burst=True).run()
    row = _row(instance.id)
    assert row.status == "failed", _describe(instance.id)


# -- 3. a drive that lost its lease keeps running the instance ------------------------------


@pytest.mark.django_db
def test_regression__drive_whose_lease_was_taken_over_runs_on_and_strands_a_branch(
    engine, registry, clock
) -> None:
    """``_flush`` docstring: "if the lease was taken over meanwhile, nothing is applied and
    the drive ends". It returns the fresh state and ``_drive`` loops on: the old drive D runs
    the other ready branch C while worker W holds the lease, commits it with the lease
    released (``keep_or_release`` -> None), wiping W's lease. W's result for B is then
    dropped (owner mismatch) and B's token stays ``running`` with no lease. Workers only
    reclaim running tokens when ``lease_owner`` is set, so the instance is stuck forever
    (and ``wake_at`` = now makes every worker pass claim it and find nothing to do)."""
    claims: list[Any] = []
    ran_under_foreign_lease: list[str] = []

    def b_body(ctx: Any) -> None:
        if not claims:  # first run of B, in drive D: its lease lapses, worker W takes over
            clock["t"] += timedelta(seconds=61)
            claims.append(Worker(PersistentExecutionEngine(registry))._claim(ctx.instance_id))
        ctx.set("b", True)

    def c_body(ctx: Any) -> None:
        # Run once, by worker W: drive D must stop at its next commit, before running C.
        ran_under_foreign_lease.append(_row(ctx.instance_id).lease_owner)
        ctx.set("c", True)

    wf = workflow(
        [marker("S"), Step("B", b_body), Step("C", c_body)],
        [Edge("S", "B"), Edge("S", "C")],
    )
    with override_settings(WORKFLOWS={"CHECKPOINT_INTERVAL": 0}):
        instance = engine.start_workflow_sync(wf)  # drive D
        [claim] = claims
        assert claim not in (None, True)
        Worker(PersistentExecutionEngine(registry))._drive(claim)  # W runs its claim
        for _ in range(3):  # later worker passes (burst mode would spin forever here)
            Worker(PersistentExecutionEngine(registry)).run_instance(instance.id)
    row = _row(instance.id)
    assert row.status == "completed", _describe(instance.id)
    assert len(ran_under_foreign_lease) == 1, "drive D ran C while worker W held the lease"
    assert "/" in ran_under_foreign_lease[0]  # under W's lease (a worker's owner id)


@pytest.mark.django_db
def test_regression__a_running_branch_without_a_lease_is_never_reclaimed(engine, registry) -> None:
    """The state the previous test ends in (a ``running`` token, ``lease_owner`` NULL,
    ``wake_at`` now): ``Worker._claim`` reclaims running tokens only when ``lease_owner``
    is set, so every pass claims the instance, finds nothing ready, saves it unchanged
    (``wake_at`` now again) and reports it as work done: the branch never runs, and
    ``workflows_worker --burst`` never exits (``run_once`` keeps returning True)."""
    b = marker("B")
    wf = workflow([marker("A"), human("H", title="Check"), b], [Edge("A", "H"), Edge("H", "B")])
    instance = engine.start_workflow_sync(wf)
    row = _row(instance.id)
    token = row.tokens[0]
    WorkflowInstanceModel.objects.filter(pk=row.pk).update(
        status="running",
        tokens=[{**token, "step": "B", "state": "running"}],
        wake_at=row.started_at,
        lease_owner=None,
        lease_expires_at=None,
    )
    worker = Worker(PersistentExecutionEngine(registry), burst=True)
    passes = [worker.run_once() for _ in range(3)]
    assert b.calls == 1 and _row(instance.id).status == "completed", (
        f"run_once() -> {passes}; {_describe(instance.id)}"
    )


# -- 4. a duplicate webhook delivery completes the next visit of the step ------------------


@pytest.mark.django_db
def test_regression__duplicate_webhook_delivery_completes_the_next_wait_of_the_step(
    engine, registry
) -> None:
    """``complete_webhook_sync`` checks the callback token's execution is waiting, then
    completes "the branch waiting at step_name" by name. Two deliveries of the same
    callback (webhook senders retry) that both pass the check: the first resumes visit 1,
    the branch loops back to the webhook step (visit 2, a new callback token), and the
    second delivery completes visit 2 with the old payload."""

    def count(ctx: Any) -> None:
        ctx.set("rounds", ctx.get("rounds", 0) + 1)

    wf = workflow(
        [marker("A"), WebhookStep(name="bank", callback_key="transfer"), Step("X", count)],
        [
            Edge("A", "bank"),
            Edge("bank", "X"),
            Edge("X", "bank", condition=lambda ctx: ctx.get("rounds", 0) < 2),
        ],
    )
    instance = engine.start_workflow_sync(wf)
    first_token = _row(instance.id).context_data["bank_callback_token"]

    original = engine._complete_waiting
    raced = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        if not raced:  # the other delivery wins the race, after this one's status check
            raced.append(True)
            PersistentExecutionEngine(registry).complete_webhook_sync(first_token, {"n": 1})
        return original(*args, **kwargs)

    engine._complete_waiting = racing  # type: ignore[method-assign]
    try:
        engine.complete_webhook_sync(first_token, {"n": 2})
    except WorkflowStateError:
        pass
    else:
        pytest.fail(
            f"the stale callback was applied to the next wait: {_describe(instance.id)}"
            f" transfer={_row(instance.id).context_data.get('transfer')}"
        )
    row = _row(instance.id)
    assert row.status == "waiting", _describe(instance.id)
    assert row.context_data["transfer"] == {"n": 1}


# -- 5. an escalation lost when its transition fails after overdue was committed ------------


@pytest.mark.django_db
def test_regression__escalation_is_lost_if_its_transition_fails_once(
    engine, clock, monkeypatch
) -> None:
    """``mark_overdue`` commits ``overdue_at`` first and follows escalation edges after, in
    separate transactions. If that later transition fails once (a deadlock or lock
    timeout, a crash of the worker), the task is never escalated: the next pass skips it
    (``overdue_at`` is set), and the branch waits forever for a task that was due to go."""
    wf = workflow(
        [
            marker("A"),
            human(
                "approve",
                title="Approve",
                due_in=timedelta(hours=4),
                escalation=Escalation(goto="escalate"),
            ),
            marker("B"),
            marker("escalate"),
        ],
        [Edge("A", "approve"), Edge("approve", "B")],
        terminal={"B", "escalate"},
    )
    instance = engine.start_workflow_sync(wf)
    clock["t"] += timedelta(hours=5)

    original = engine.store.transition
    failures = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(True)
            raise OperationalError("deadlock detected")
        return original(*args, **kwargs)

    monkeypatch.setattr(engine.store, "transition", flaky)
    deadlines.mark_overdue(engine, clock["t"])  # the failure is logged, the task left due
    assert failures == [True]
    assert HumanTaskModel.objects.get().overdue_at is None
    # The worker goes on, later passes:
    clock["t"] += timedelta(minutes=1)
    Worker(engine, burst=True).run()
    clock["t"] += timedelta(minutes=1)
    Worker(engine, burst=True).run()
    row = _row(instance.id)
    assert row.status == "completed", _describe(instance.id)
    assert HumanTaskModel.objects.get().status == "canceled"


# -- 6. user conditions evaluated inside a transaction, under the row lock -----------------


@pytest.mark.django_db(transaction=True)
def test_regression__conditions_run_inside_the_transaction_on_the_conflict_path(
    engine, registry, monkeypatch
) -> None:
    """DESIGN 3.3: user code never runs inside a transaction or under a row lock. When the
    optimistic save of a completion conflicts, the locked transition re-applies ``resume`` under
    ``SELECT ... FOR UPDATE``, and ``resume`` -> ``_move_on`` -> ``_route`` evaluates the
    edge conditions (user callables) there. The drive's flush replay (``StepResult.replay`` ->
    ``advance``; ``Sleep.replay`` -> ``get_due_date``) does the same."""
    seen: list[bool] = []

    def condition(ctx: Any) -> bool:
        seen.append(connection.in_atomic_block)
        return True

    wf = workflow(
        [marker("S"), human("H1", title="one"), human("H2", title="two"), marker("E")],
        [Edge("S", "H1"), Edge("S", "H2"), Edge("H1", "E", condition=condition)],
        terminal={"E", "H2"},
    )
    instance = engine.start_workflow_sync(wf)

    from workflows_app.engine import leases

    original = leases.take
    raced = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        if not raced:  # another request completes H2 between our read and our save
            raced.append(True)
            PersistentExecutionEngine(registry).complete_human_task_sync(
                instance.id, "H2", "u2", {}
            )
        return original(*args, **kwargs)

    monkeypatch.setattr(leases, "take", racing)
    engine.complete_human_task_sync(instance.id, "H1", "u1", {})
    assert _row(instance.id).status == "completed"
    assert True not in seen, f"condition evaluated inside a transaction: {seen}"


# -- 7. bad input: human task data that is not JSON -------------------------------------------


@pytest.mark.django_db
def test_regression__task_data_that_is_not_json_raises_a_raw_type_error(engine) -> None:
    """``start_workflow`` and ``complete_webhook`` refuse non-JSON data with
    ``WorkflowValidationError``; ``complete_human_task`` does not check, and the JSON
    column's encoder raises a raw ``TypeError`` (a 500 in a view) from inside the save."""
    wf = workflow([human("H", title="Check"), marker("B")], [Edge("H", "B")])
    instance = engine.start_workflow_sync(wf)
    with pytest.raises(WorkflowError):
        engine.complete_human_task_sync(instance.id, "H", "u1", {"when": datetime.now(UTC)})
    assert _row(instance.id).status == "waiting"
    assert tasks(instance.id)[0].status == "pending"


# -- guarantees that held -----------------------------------------------------------------------


@pytest.mark.django_db
def test_holds__a_cancel_committed_during_a_batch_drops_its_results_and_the_lease(
    engine, registry
) -> None:
    """A cancel committed while a drive runs A (a commit after every step): A's result is
    not saved, B never runs, the instance stays canceled, and the drive's conflict commit
    releases its lease."""
    b = marker("B")

    def a_body(ctx: Any) -> None:
        PersistentExecutionEngine(registry).cancel_workflow_sync(ctx.instance_id, "stop")
        ctx.set("a", True)

    wf = workflow([Step("A", a_body), b], [Edge("A", "B")])
    with override_settings(WORKFLOWS={"CHECKPOINT_INTERVAL": 0}):
        engine.start_workflow_sync(wf)
    [row] = WorkflowInstanceModel.objects.all()
    assert (row.status, row.lease_owner, row.tokens, row.wake_at) == ("canceled", None, [], None)
    assert "a" not in row.context_data
    assert b.calls == 0
    assert executions(row.pk) == []


@pytest.mark.django_db
def test_holds__completing_a_branch_while_another_drive_runs_is_replayed_once(
    engine, registry
) -> None:
    """While drive D runs B (batch not yet committed), another request completes H. D's
    commit conflicts, replays B onto the fresh state, and runs the join J exactly once."""
    j = marker("J")

    def b_body(ctx: Any) -> None:
        PersistentExecutionEngine(registry).complete_human_task_sync(
            ctx.instance_id, "H", "u1", {"ok": True}
        )
        ctx.set("b", True)

    wf = workflow(
        [marker("S"), human("H", title="Check"), Step("B", b_body), j],
        [Edge("S", "H"), Edge("S", "B"), Edge("B", "J"), Edge("H", "J")],
    )
    with override_settings(WORKFLOWS={"CHECKPOINT_INTERVAL": 60}):
        engine.start_workflow_sync(wf)
    [row] = WorkflowInstanceModel.objects.all()
    assert row.status == "completed", _describe(row.pk)
    assert j.calls == 1
    assert row.context_data["b"] is True and row.context_data["ok"] is True
    assert [r.step_name for r in executions(row.pk)].count("J") == 1
    assert row.lease_owner is None
