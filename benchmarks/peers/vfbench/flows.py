"""The bench workloads as Viewflow flows (``reference/viewflow-bench.md`` in the design notes).

linear-3: start -> three Function steps -> end, all inside ``start.run()``.
approval: start -> Function -> a View task assigned at creation -> Function -> end; the
View task is completed in code through the activation API (:func:`complete_review`).
A Function step that changes ``process.data`` saves the process itself: Viewflow saves it
only at the start and the end, and the completion reloads it from the database.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from viewflow import this
from viewflow.workflow import flow, lock
from viewflow.workflow.flow import views
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

# Viewflow recommends select_for_update_lock on PostgreSQL; on SQLite, Django ignores
# select_for_update and BEGIN IMMEDIATE already serialises writers (its default, no_lock).
POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
LOCK = lock.select_for_update_lock if POSTGRES else lock.no_lock


def _mark(activation, key):
    activation.process.data[key] = True
    activation.process.save()


def _start(activation, data):
    activation.process.data = dict(data)
    return activation.process


class Linear3Flow(flow.Flow):
    lock_impl = LOCK

    start = flow.StartHandle(this.start_process).Next(this.a)
    a = flow.Function(this.do_a).Next(this.b)
    b = flow.Function(this.do_b).Next(this.c)
    c = flow.Function(this.do_c).Next(this.end)
    end = flow.End()

    def start_process(self, activation, data):
        return _start(activation, data)

    def do_a(self, activation):
        _mark(activation, "a")

    def do_b(self, activation):
        _mark(activation, "b")

    def do_c(self, activation):
        _mark(activation, "c")


class ApprovalFlow(flow.Flow):
    lock_impl = LOCK

    start = flow.StartHandle(this.start_process).Next(this.submit)
    submit = flow.Function(this.do_submit).Next(this.approve)
    # Assigned when created, as a task taken from a queue: .Assign costs no query.
    approve = (
        flow.View(views.UpdateProcessView.as_view(fields=[]))
        .Assign(this.reviewer)
        .Next(this.record)
    )
    record = flow.Function(this.do_record).Next(this.end)
    end = flow.End()

    def start_process(self, activation, data):
        return _start(activation, data)

    def reviewer(self, activation):
        return reviewer()

    def do_submit(self, activation):
        _mark(activation, "submit")

    def do_record(self, activation):
        _mark(activation, "record")


_reviewer: list[User] = []


def reviewer() -> User:
    if not _reviewer:
        _reviewer.append(User.objects.get_or_create(username="bob")[0])
    return _reviewer[0]


def complete_review(process, request):
    """What POST .../approve/<task>/execute/ does, without HTTP.

    The task's activation takes the flow's lock and re-reads the task; the owner check is
    the one the view runs; the process save stands in for the form's save; ``execute()``
    finishes the task and runs ``record`` and ``end`` in the same transaction.
    """
    task = Task.objects.get(process=process, flow_task=ApprovalFlow.approve, status=STATUS.ASSIGNED)
    with task.activation() as activation:
        if not activation.flow_task.can_execute(request.user, activation.task):
            raise PermissionDenied
        activation.start(request)
        activation.process.data["approved"] = True
        activation.process.save()
        activation.execute()
    return activation.process
