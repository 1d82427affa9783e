"""The e-mails of human tasks: when a task is created (``TASK_EMAILS``) and its reminder
(``REMINDER_EMAILS``, sent by :mod:`.deadlines`).

They go to the task's assignee, or else to the active members of its group, through
Django's mail backend, after the transaction that created or reminded the task commits.
With ``ACTION_LINKS`` on, each person gets a mail of their own, carrying the answer links
of a simple form made out to them and a link to the task's page (see
:mod:`.action_links`); without it, one mail goes to them all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings

from workflows_app import conf
from workflows_app.core.types import TaskStatus
from workflows_app.engine import action_links
from workflows_app.models import HumanTaskModel

__all__ = ["recipients", "send_created", "send_reminder"]

logger = logging.getLogger(__name__)


def recipients(task: HumanTaskModel) -> list[tuple[str, str]]:
    """The ``(user id, e-mail)`` of the assignee, or else of the group's active members."""
    if "django.contrib.auth" not in settings.INSTALLED_APPS:
        return []
    from django.contrib.auth import get_user_model

    field = conf.get_settings().USER_ID_FIELD
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    if task.assignee_id:
        users = users.filter(**{field: task.assignee_id})
    elif task.assignee_group:
        users = users.filter(groups__name=task.assignee_group)
    else:
        return []
    return sorted({(str(user_id), email) for user_id, email in users.values_list(field, "email")})


def send_created(using: str, task_ids: Iterable[Any]) -> None:
    """Mail the people of each task of ``task_ids`` still pending that it is theirs."""
    tasks = HumanTaskModel.objects.using(using).filter(
        pk__in=list(task_ids), status=TaskStatus.PENDING
    )
    for task in tasks:
        people = recipients(task)
        if people:
            _send(task, people, f"New task: {task.title}", "is waiting for you.")


def send_reminder(task: HumanTaskModel, people: list[tuple[str, str]]) -> None:
    """Remind ``people`` (``(user id, e-mail)``) of ``task``."""
    due = f" It is due {task.due_at:%Y-%m-%d %H:%M %Z}." if task.due_at else ""
    _send(task, people, f"Reminder: {task.title}", f"is waiting for you.{due}")


def _send(task: HumanTaskModel, people: list[tuple[str, str]], subject: str, says: str) -> None:
    from django.core.mail import send_mail

    text = f"The task “{task.title}” {says}\n\n{task.description or ''}".rstrip()
    if not conf.get_settings().ACTION_LINKS:
        send_mail(subject, text + "\n", None, sorted({email for _, email in people}))
        return
    page = action_links.task_page_link(task)
    for user_id, email in people:
        lines = [text, ""]
        answers = action_links.answer_links(task, user_id)
        if answers:
            lines.append("Answer from here (you confirm on the page the link opens):")
            lines += [f"{label}: {url}" for label, url in answers]
            lines.append("")
        if page:
            lines.append(f"Open the task: {page}")
        send_mail(subject, "\n".join(lines) + "\n", None, [email])
