"""Answering a task from an e-mail (``WORKFLOWS["ACTION_LINKS"]``): the task-created and
reminder mails carry signed links, a GET shows a confirmation page and changes nothing,
the POST from it answers through the services, the first answer wins, and expired,
tampered, refused (four-eyes, not offered) links change nothing. Both modes: logged in
(the default) and the link alone (``ACTION_LINKS_ANONYMOUS``)."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from tests import action_link_workflows
from tests.api import workflows as api_workflows
from tests.integration.helpers import snapshot
from tests.users import make_user
from workflows_app.core.registry import default_registry
from workflows_app.engine import action_links
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.engine.worker import Worker
from workflows_app.models import HumanTaskModel

pytestmark = pytest.mark.django_db

BASE = "http://testserver"
LINKS = {"ACTION_LINKS": True, "TASK_EMAILS": True, "ACTION_LINKS_BASE_URL": BASE}
LINK = re.compile(r"^(Approve|Reject|Open the task): (\S+)$", re.MULTILINE)


@pytest.fixture(autouse=True, scope="module")
def _workflows() -> None:
    default_registry.register_module(action_link_workflows)
    default_registry.register_module(api_workflows)


@pytest.fixture(autouse=True)
def links_on():
    with override_settings(WORKFLOWS={**settings.WORKFLOWS, **LINKS}):
        yield


def person(name: str, **kwargs: Any) -> Client:
    user = make_user(name, groups=("reviewers",), **kwargs)
    user.email = f"{name}@example.com"
    user.save()
    client = Client()
    client.force_login(user)
    return client


def links_in(mail: Any) -> dict[str, str]:
    """The mail's links by their words, as paths on the test server."""
    return {label: url.removeprefix(BASE) for label, url in LINK.findall(mail.body)}


def to_approve(engine: PersistentExecutionEngine, mailoutbox, capture) -> HumanTaskModel:
    """An instance started by root, its report written by wendy: the approval's task."""
    with capture(execute=True):
        started = engine.start_workflow_sync("action_link_report", created_by="root")
    write = HumanTaskModel.objects.get(instance_id=started.id, step_name="write")
    with capture(execute=True):
        engine.complete_task_sync(write.pk, "wendy", {})
    return HumanTaskModel.objects.get(instance_id=started.id, step_name="approve")


@pytest.fixture
def engine() -> PersistentExecutionEngine:
    return PersistentExecutionEngine()


@pytest.fixture
def people() -> dict[str, Client]:
    return {name: person(name) for name in ("root", "wendy", "ann", "bob")}


def mails_to(mailoutbox, name: str, subject: str) -> Any:
    [mail] = [m for m in mailoutbox if m.to == [f"{name}@example.com"] and subject in m.subject]
    return mail


def test_task_created_mail__one_per_person_with_their_links(
    engine, people, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    task = to_approve(engine, mailoutbox, django_capture_on_commit_callbacks)
    mail = mails_to(mailoutbox, "ann", "New task: Approve the report")
    links = links_in(mail)
    assert set(links) == {"Approve", "Reject", "Open the task"}
    assert links["Open the task"] == reverse(
        "admin:workflows_app_humantaskmodel_change", args=[task.pk]
    )
    token = links["Approve"].rstrip("/").rsplit("/", 1)[1]
    assert action_links.read(token) == action_links.ActionLink(str(task.pk), True, "ann")
    # The write step's form is not simple: its mail has the task's page only.
    write_mail = mails_to(mailoutbox, "ann", "New task: Write the report")
    assert set(links_in(write_mail)) == {"Open the task"}


def test_get_changes_nothing__post_answers__the_second_answer_sees_who(
    engine, people, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    task = to_approve(engine, mailoutbox, django_capture_on_commit_callbacks)
    approve = links_in(mails_to(mailoutbox, "ann", "Approve the report"))["Approve"]
    before = snapshot()
    page = people["ann"].get(approve)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="wf-confirm-form"' in html and "Confirm: Approve" in html
    assert 'method="post"' in html and "csrfmiddlewaretoken" in html
    assert snapshot() == before  # link scanners fetch links: GET never acts

    done = people["ann"].post(approve)
    assert done.status_code == 200, done.content
    assert "you answered <strong>Approve</strong>" in done.content.decode()
    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("completed", "ann")
    instance = engine.get_instance_sync(task.instance_id)
    assert instance.context.data["approved"] is True

    after = snapshot()
    reject = links_in(mails_to(mailoutbox, "bob", "Approve the report"))["Reject"]
    for answer in (people["bob"].get(reject), people["bob"].post(reject)):
        html = answer.content.decode()
        assert 'id="wf-answered-by">ann<' in html and "already answered" in html
    assert people["bob"].post(reject).status_code == 409
    assert snapshot() == after


def test_post_from_a_page_without_the_csrf_token_is_refused(
    engine, people, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    task = to_approve(engine, mailoutbox, django_capture_on_commit_callbacks)
    approve = links_in(mails_to(mailoutbox, "ann", "Approve the report"))["Approve"]
    user = make_user("carol", groups=("reviewers",))
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    before = snapshot()
    assert strict.post(approve).status_code == 403
    assert snapshot() == before
    task.refresh_from_db()
    assert task.status == "pending"


def test_expired_and_tampered_links_change_nothing(
    engine, people, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    task = to_approve(engine, mailoutbox, django_capture_on_commit_callbacks)
    eight_days_ago = time.time() - 8 * 24 * 3600
    with mock.patch("django.core.signing.time.time", return_value=eight_days_ago):
        old = action_links.sign(task.pk, True, "ann")
    expired = reverse("workflows_actions:answer", args=[old])
    approve = links_in(mails_to(mailoutbox, "ann", "Approve the report"))["Approve"]
    token = approve.rstrip("/").rsplit("/", 1)[1]
    tampered = approve.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    # the payload says "reject", the signature is of "approve"
    swapped = approve.replace(token.split(":")[0], action_links.sign(task.pk, False, "ann")[:20])
    before = snapshot()
    for method in ("get", "post"):
        answer = getattr(people["ann"], method)(expired)
        assert answer.status_code == 403 and "This link has expired" in answer.content.decode()
        for bad in (tampered, swapped):
            answer = getattr(people["ann"], method)(bad)
            assert answer.status_code == 400, bad
            assert "This link is not valid" in answer.content.decode()
    assert snapshot() == before


def test_four_eyes__the_writer_is_refused_through_a_link(
    engine, people, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    task = to_approve(engine, mailoutbox, django_capture_on_commit_callbacks)
    approve = links_in(mails_to(mailoutbox, "wendy", "Approve the report"))["Approve"]
    before = snapshot()
    page = people["wendy"].get(approve)
    assert page.status_code == 403 and "four-eyes rule" in page.content.decode()
    assert 'id="wf-confirm-form"' not in page.content.decode()
    assert people["wendy"].post(approve).status_code == 403
    assert snapshot() == before
    # Forwarded to a superuser who neither wrote the report nor started the instance.
    boss = Client()
    boss.force_login(make_user("boss", superuser=True, groups=("reviewers",)))
    assert boss.post(approve).status_code == 200
    task.refresh_from_db()
    assert task.completed_by == "boss"


def test_four_eyes__the_starter_is_refused_even_as_superuser(
    engine, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    for name in ("wendy", "ann"):
        person(name)
    root = person("root", superuser=True)
    task = to_approve(engine, mailoutbox, django_capture_on_commit_callbacks)
    approve = links_in(mails_to(mailoutbox, "root", "Approve the report"))["Approve"]
    before = snapshot()
    answer = root.post(approve)
    assert answer.status_code == 403 and "four-eyes rule" in answer.content.decode()
    assert snapshot() == before
    task.refresh_from_db()
    assert task.status == "pending"


def test_login_required_by_default__a_visitor_goes_to_the_login_page(
    engine, people, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    to_approve(engine, mailoutbox, django_capture_on_commit_callbacks)
    approve = links_in(mails_to(mailoutbox, "ann", "Approve the report"))["Approve"]
    before = snapshot()
    for method in ("get", "post"):
        answer = getattr(Client(), method)(approve)
        assert answer.status_code == 302 and "/login/" in answer["Location"]
    assert snapshot() == before


def test_login_required__someone_the_task_is_not_offered_to_is_refused(
    engine, people, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    task = to_approve(engine, mailoutbox, django_capture_on_commit_callbacks)
    approve = links_in(mails_to(mailoutbox, "ann", "Approve the report"))["Approve"]
    outsider = make_user("olga", groups=("sales",), perms=("view_humantaskmodel",))
    client = Client()
    client.force_login(outsider)
    before = snapshot()
    answer = client.post(approve)
    assert answer.status_code == 403 and "not yours to answer" in answer.content.decode()
    assert snapshot() == before
    task.refresh_from_db()
    assert task.status == "pending"


def test_anonymous_mode__the_link_alone_answers_as_its_user(
    engine, people, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    task = to_approve(engine, mailoutbox, django_capture_on_commit_callbacks)
    reject = links_in(mails_to(mailoutbox, "ann", "Approve the report"))["Reject"]
    wendys = links_in(mails_to(mailoutbox, "wendy", "Approve the report"))["Approve"]
    with override_settings(WORKFLOWS={**settings.WORKFLOWS, "ACTION_LINKS_ANONYMOUS": True}):
        before = snapshot()
        visitor = Client()
        assert visitor.get(reject).status_code == 200
        assert snapshot() == before
        refused = visitor.post(wendys)  # bound to wendy, who wrote the report
        assert refused.status_code == 403 and "four-eyes rule" in refused.content.decode()
        assert snapshot() == before
        done = visitor.post(reject)
        assert done.status_code == 200, done.content
    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("completed", "ann")
    assert engine.get_instance_sync(task.instance_id).context.data["approved"] is False


def test_anonymous_mode__a_deactivated_user_link_answers_nothing(
    engine, people, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    task = to_approve(engine, mailoutbox, django_capture_on_commit_callbacks)
    approve = links_in(mails_to(mailoutbox, "ann", "Approve the report"))["Approve"]
    from django.contrib.auth.models import User

    User.objects.filter(username="ann").update(is_active=False)
    with override_settings(WORKFLOWS={**settings.WORKFLOWS, "ACTION_LINKS_ANONYMOUS": True}):
        assert Client().post(approve).status_code == 404
    task.refresh_from_db()
    assert task.status == "pending"


def test_action_links_off__links_are_404_and_mails_carry_none(
    engine, people, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    task = to_approve(engine, mailoutbox, django_capture_on_commit_callbacks)
    approve = links_in(mails_to(mailoutbox, "ann", "Approve the report"))["Approve"]
    off = {**settings.WORKFLOWS, **LINKS, "ACTION_LINKS": False}
    with override_settings(WORKFLOWS=off):
        assert people["ann"].post(approve).status_code == 404
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            engine.start_workflow_sync("action_link_report", created_by="root")
        [mail] = mailoutbox  # one mail to the whole group, no links
        assert len(mail.to) == 4 and links_in(mail) == {}
    task.refresh_from_db()
    assert task.status == "pending"


def test_reminder_mail__carries_the_links(
    engine, people, mailoutbox, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    from workflows_app.core import clock as clock_module

    task = to_approve(engine, mailoutbox, django_capture_on_commit_callbacks)
    mailoutbox.clear()
    later = task.reminder_at + timedelta(minutes=1)
    monkeypatch.setattr(clock_module, "utcnow", lambda: later)
    with django_capture_on_commit_callbacks(execute=True):
        Worker(engine, burst=True).run()
    mail = mails_to(mailoutbox, "bob", "Reminder: Approve the report")
    reject = links_in(mail)["Reject"]
    assert people["bob"].post(reject).status_code == 200
    task.refresh_from_db()
    assert (task.status, task.completed_by) == ("completed", "bob")


def test_n_of_m__links_of_a_multi_instance_step(
    engine, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    clients = {name: person(name) for name in ("ann", "bob", "cy")}
    with django_capture_on_commit_callbacks(execute=True):
        started = engine.start_workflow_sync(
            "api_board", initial_data={"members": ["ann", "bob", "cy"]}
        )
    links = {name: links_in(mails_to(mailoutbox, name, "Approve the budget")) for name in clients}
    assert clients["ann"].post(links["ann"]["Approve"]).status_code == 200
    assert clients["bob"].post(links["bob"]["Approve"]).status_code == 200
    # The step is complete: cy's task was canceled, and their link says so.
    answer = clients["cy"].post(links["cy"]["Approve"])
    assert answer.status_code == 409 and "takes no answer" in answer.content.decode()
    assert engine.get_instance_sync(started.id).status == "completed"
