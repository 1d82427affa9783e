"""The admin's task inbox (the HumanTaskModel changelist) and its task page, through the
Django test client as staff users, on the real engine.

Tasks come from the API tests' workflows (``tests/api/workflows.py``): ``api_review``
offers a task to the group ``reviewers`` (priority 5, due in a day, a form), and
``api_assigned`` one assigned to the user named in ``signer`` (no group; nobody when
``signer`` is missing, so offered to everyone). The demo's ``expense_approval`` offers
one to ``managers``. A user's tenant is its ``tenant:<name>`` group (the demo's resolver).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.admin.console_support import make_staff
from tests.api import workflows
from workflows_app.admin.tasks import CappedCountPaginator, HumanTaskAdmin
from workflows_app.core.registry import default_registry
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db

INBOX = reverse("admin:workflows_app_humantaskmodel_changelist")


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


# -- helpers ---------------------------------------------------------------------------


def start(name: str = "api_review", data: dict[str, Any] | None = None, **kwargs: Any):
    """Start ``name`` on the real engine; return its pending task."""
    state = PersistentExecutionEngine().start_workflow_sync(name, data, **kwargs)
    [task] = HumanTaskModel.objects.filter(instance_id=state.id, status="pending")
    return task


def review(**kwargs: Any) -> HumanTaskModel:
    return start("api_review", **kwargs)


def assigned_to(user_id: str | None, **kwargs: Any) -> HumanTaskModel:
    return start("api_assigned", {"signer": user_id} if user_id else {}, **kwargs)


def expense(**kwargs: Any) -> HumanTaskModel:
    return start("expense_approval", {"amount": 12}, **kwargs)


def due(task: HumanTaskModel, delta: timedelta | None) -> HumanTaskModel:
    """Set a task's due date ``delta`` from now (the one field the tests write)."""
    HumanTaskModel.objects.filter(pk=task.pk).update(
        due_at=None if delta is None else timezone.now() + delta
    )
    task.refresh_from_db()
    return task


def listed(client: Client, query: str = "") -> list[uuid.UUID]:
    """The ids of the tasks the inbox lists for ``query``, in their order."""
    response = client.get(INBOX + query)
    assert response.status_code == 200, response
    return [task.pk for task in response.context["cl"].result_list]


def filter_choices(client: Client, parameter: str) -> list[str]:
    """The values of the inbox filter on ``parameter`` (its "All" left out)."""
    response = client.get(INBOX)
    [found] = [
        spec for spec in response.context["cl"].filter_specs if spec.parameter_name == parameter
    ]
    return [value for value, _title in found.lookup_choices]


def note_of(client: Client, query: str = "") -> str:
    """The sentence above the inbox that says which tasks it lists, as text."""
    html = client.get(INBOX + query).content.decode()
    found = re.search(r'<p class="wf-scope-note" id="wf-scope-note">(.*?)</p>', html, re.S)
    assert found is not None, html
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def page(task: HumanTaskModel) -> str:
    return reverse("admin:workflows_app_humantaskmodel_change", args=[task.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def snapshot(task: HumanTaskModel) -> tuple[Any, ...]:
    """What a refused action must leave as it was: the task, its instance, its history."""
    task = HumanTaskModel.objects.get(pk=task.pk)
    instance = WorkflowInstanceModel.objects.get(pk=task.instance_id)
    return (
        task.status,
        task.assignee_id,
        task.assignee_group,
        task.completed_by,
        task.completed_at,
        task.activity,
        instance.status,
        instance.context_data,
        StepExecutionModel.objects.filter(instance_id=task.instance_id).count(),
    )


@pytest.fixture
def alice() -> Client:
    return make_staff("alice", groups=("reviewers",))


# -- the list --------------------------------------------------------------------------


def test_inbox__lists_the_pending_tasks_offered_to_the_user_by_default(alice) -> None:
    group_task = review()
    mine = assigned_to("alice")
    anyone = assigned_to(None)
    assigned_to("bob")  # someone else's
    expense()  # another group's
    claimed_by_bob = review()
    PersistentExecutionEngine().claim_task_sync(claimed_by_bob.pk, "bob")
    done = review()
    PersistentExecutionEngine().complete_task_sync(done.pk, "alice", {"approved": True})

    assert anyone.assignee_id is None and anyone.assignee_group is None
    assert set(listed(alice)) == {group_task.pk, mine.pk, anyone.pk}
    assert set(listed(alice, "?scope=offered&status=pending")) == set(listed(alice))
    response = alice.get(INBOX)
    assert b"Task inbox" in response.content
    assert b"Review the document" in response.content
    assert b"<em>group</em> reviewers" in response.content
    assert b"<em>anyone</em>" in response.content


def test_inbox__scope_filters(alice) -> None:
    group_task = review()
    mine = assigned_to("alice")
    anyone = assigned_to(None)
    bobs = assigned_to("bob")
    managers = expense()
    operator = make_staff("olga", perms=("view_humantaskmodel",))

    assert listed(alice, "?scope=assigned") == [mine.pk]
    assert listed(alice, "?scope=groups") == [group_task.pk]
    everything = {group_task.pk, mine.pk, anyone.pk, bobs.pk, managers.pk}
    assert set(listed(operator, "?scope=all")) == everything
    assert set(listed(operator)) == {anyone.pk}  # the default is still "offered"
    # The filter's choices are the API's scopes, "all" only for who may list every task.
    mine_too = ["delegated", "substituting"]
    assert filter_choices(alice, "scope") == ["offered", "assigned", "groups", *mine_too]
    assert filter_choices(operator, "scope") == [
        "offered",
        "assigned",
        "groups",
        "all",
        *mine_too,
    ]


def test_inbox__a_scope_the_user_may_not_list_redirects_to_the_default_with_a_message(
    alice,
) -> None:
    anyone = assigned_to(None)

    followed = alice.get(INBOX + "?scope=all", follow=True)
    assert [row.pk for row in followed.context["cl"].result_list] == [anyone.pk]
    assert messages_of(followed) == [
        "Only users who may see every task (view_humantaskmodel or complete_any_task) "
        "have the list of all tasks."
    ]
    nonsense = alice.get(INBOX + "?scope=nonsense", follow=True)
    assert nonsense.redirect_chain == [(INBOX, 302)]
    assert messages_of(nonsense) == ['There is no "nonsense" list of tasks.']
    answer = alice.get(INBOX + "?scope=all&status=any")  # the other filters are kept
    assert (answer.status_code, answer["Location"]) == (302, INBOX + "?status=any")


def test_inbox__the_old_scope_name_visible_is_all_or_the_offered_tasks(alice) -> None:
    operator = make_staff("olga", perms=("view_humantaskmodel",))

    assert operator.get(INBOX + "?scope=visible&status=any")["Location"] == (
        INBOX + "?scope=all&status=any"
    )
    # Without the permission it was what is offered: the default list, without a word.
    followed = alice.get(INBOX + "?scope=visible", follow=True)
    assert followed.redirect_chain == [(INBOX, 302)]
    assert messages_of(followed) == []


def test_inbox__says_which_tasks_it_lists(alice) -> None:
    operator = make_staff("olga", perms=("view_humantaskmodel",), tenant="acme")
    superuser = make_staff("root", superuser=True, tenant="acme")
    untenanted = make_staff("sam", superuser=True)

    note = note_of(alice)
    assert note.startswith("Tasks offered to you: assigned to you, or unassigned in one of")
    assert "every task" not in note
    assert note_of(alice, "?scope=assigned").startswith("Tasks assigned to you. ")
    assert note_of(operator).endswith("You may see every task: all tasks.")
    # A superuser in no group has no task offered: the inbox says where the tasks are.
    assert note_of(superuser).endswith(
        "You may see and complete every task as a superuser: all tasks."
    )
    assert note_of(untenanted).endswith(
        "You are in no group. You belong to no tenant: only tasks without one are listed. "
        "You may see and complete every task as a superuser: all tasks."
    )
    html = superuser.get(INBOX).content.decode()
    assert 'You may see and complete every task as a superuser: <a href="?scope=all">' in html
    assert note_of(superuser, "?scope=all") == (
        "Every task of your tenant, whoever it is offered to."
    )
    # With tenancy on, a user of no tenant sees only the tasks without one, and is told.
    assert note_of(untenanted, "?scope=all") == (
        "Every task without a tenant (you belong to none), whoever it is for."
    )


def test_inbox__status_filter(alice) -> None:
    pending = review()
    done = review()
    PersistentExecutionEngine().complete_task_sync(done.pk, "alice", {"approved": True})
    done_by_bob = review()
    PersistentExecutionEngine().complete_task_sync(done_by_bob.pk, "bob", {"approved": False})
    canceled = review()
    PersistentExecutionEngine().cancel_workflow_sync(canceled.instance_id, "no longer needed")

    assert listed(alice) == [pending.pk]
    assert done.pk in listed(alice, "?status=completed")
    assert pending.pk not in listed(alice, "?status=completed")
    assert canceled.pk not in listed(alice, "?status=completed")
    assert listed(alice, "?status=canceled") == [canceled.pk]
    assert {pending.pk, done.pk, canceled.pk} <= set(listed(alice, "?status=any"))


def test_inbox__due_filters_and_marks(alice) -> None:
    overdue = due(review(), timedelta(hours=-3))
    soon = due(review(), timedelta(minutes=115))
    later = due(review(), timedelta(days=3))
    undated = due(review(), None)

    assert listed(alice, "?due=overdue") == [overdue.pk]
    assert listed(alice, "?due=soon") == [soon.pk]
    assert listed(alice) == [overdue.pk, soon.pk, later.pk, undated.pk]  # earliest due first

    html = alice.get(INBOX).content.decode()
    assert html.count('class="wf-overdue"') == 1
    assert re.search(r'class="wf-overdue">Overdue</span> <time [^>]*>3\shours ago</time>', html)
    assert html.count('class="wf-due-soon"') == 1
    assert re.search(r'class="wf-due-soon"><time [^>]*>in 2\shours</time></span>', html), html
    assert re.search(r"<time [^>]*>in 3\sdays</time>", html), html
    # The task page marks them too.
    assert b'<span class="wf-overdue">Overdue</span>' in alice.get(page(overdue)).content
    assert b'<span class="wf-due-soon">Due soon</span>' in alice.get(page(soon)).content
    later_page = alice.get(page(later)).content
    assert b"wf-overdue" not in later_page and b"wf-due-soon" not in later_page


def test_inbox__a_completed_task_is_never_marked_overdue(alice) -> None:
    task = due(review(), timedelta(hours=-3))
    PersistentExecutionEngine().complete_task_sync(task.pk, "alice", {"approved": True})

    response = alice.get(INBOX + "?status=completed")

    assert [row.pk for row in response.context["cl"].result_list] == [task.pk]
    assert b"wf-overdue" not in response.content
    assert listed(alice, "?status=completed&due=overdue") == []


def test_inbox__workflow_filter(alice) -> None:
    group_task = review()
    mine = assigned_to("alice")

    assert listed(alice, "?workflow=api_review") == [group_task.pk]
    assert listed(alice, "?workflow=api_assigned") == [mine.pk]
    assert listed(alice, "?workflow=expense_approval") == []
    html = alice.get(INBOX).content.decode()
    assert "?workflow=api_review" in html and "?workflow=expense_approval" in html


def test_inbox__search(alice) -> None:
    group_task = review()
    mine = assigned_to("alice")

    assert listed(alice, "?q=contract") == [mine.pk]
    assert listed(alice, "?q=document") == [group_task.pk]
    assert listed(alice, "?q=reviewers") == [group_task.pk]
    assert listed(alice, "?q=nothing+like+this") == []


def test_inbox__sorts_by_due_date_and_priority(alice) -> None:
    # o= numbers list_display from 0: task, assigned, due (2), priority (3), status.
    first = due(assigned_to("alice"), timedelta(hours=5))  # priority 0
    second = due(review(), timedelta(hours=10))  # priority 5
    third = due(assigned_to(None), timedelta(days=2))  # priority 0
    fourth = due(review(), timedelta(days=4))  # priority 5

    assert listed(alice, "?o=2") == [first.pk, second.pk, third.pk, fourth.pk]
    assert listed(alice, "?o=-2") == [fourth.pk, third.pk, second.pk, first.pk]
    by_priority = listed(alice, "?o=-3")
    assert set(by_priority[:2]) == {second.pk, fourth.pk}
    assert set(by_priority[2:]) == {first.pk, third.pk}
    assert set(listed(alice, "?o=3")[:2]) == {first.pk, third.pk}
    assert listed(alice, "?o=-3.2") == [second.pk, fourth.pk, first.pk, third.pk]
    assert listed(alice, "?o=-3.-2") == [fourth.pk, second.pk, third.pk, first.pk]
    # The column headers link to these sorts; the "assigned to" column is not sortable.
    html = alice.get(INBOX).content.decode()
    assert 'href="?o=2"' in html and 'href="?o=3"' in html
    assert 'href="?o=1"' not in html


def test_inbox__tenants_see_their_own_tasks_only() -> None:
    acme_user = make_staff("ann", groups=("reviewers",), tenant="acme")
    acme_operator = make_staff("oscar", perms=("view_humantaskmodel",), tenant="acme")
    acme = review(tenant_id="acme")
    globex = review(tenant_id="globex")
    untenanted = review()
    globex_anyone = assigned_to(None, tenant_id="globex")

    assert acme.tenant_id == "acme" and globex.tenant_id == "globex"
    assert listed(acme_user) == [acme.pk]
    assert listed(acme_user, "?status=any") == [acme.pk]
    assert listed(acme_operator, "?scope=all&status=any") == [acme.pk]
    for task in (globex, untenanted, globex_anyone):
        assert acme_user.get(page(task)).status_code == 404
        assert acme_operator.get(page(task)).status_code == 404
        before = snapshot(task)
        answer = acme_operator.post(page(task), {"action": "complete", "approved": "true"})
        assert answer.status_code == 404
        assert snapshot(task) == before
    assert acme_user.get(page(acme)).status_code == 200
    # The admin's other object pages go through the same rows.
    history = "admin:workflows_app_humantaskmodel_history"
    assert acme_user.get(reverse(history, args=[acme.pk])).status_code == 200
    answer = acme_operator.get(reverse(history, args=[globex.pk]))
    assert answer.status_code == 302 and globex.title not in answer.content.decode()


def test_inbox__non_staff_users_cannot_open_the_admin() -> None:
    task = review()
    visitor = make_staff("vic", groups=("reviewers",), staff=False)

    for url in (INBOX, page(task), reverse("admin:index")):
        answer = visitor.get(url)
        assert answer.status_code == 302, url
        assert answer["Location"].startswith(reverse("admin:login")), answer["Location"]
    before = snapshot(task)
    answer = visitor.post(page(task), {"action": "complete", "approved": "true"})
    assert answer.status_code == 302
    assert snapshot(task) == before


def test_inbox__no_add_no_delete_no_bulk_actions(alice) -> None:
    task = review()

    html = alice.get(INBOX).content.decode()
    assert reverse("admin:workflows_app_humantaskmodel_add") not in html
    assert 'name="action"' not in html  # no actions' select
    assert "action-checkbox" not in html
    assert alice.get(reverse("admin:workflows_app_humantaskmodel_add")).status_code == 403
    delete = reverse("admin:workflows_app_humantaskmodel_delete", args=[task.pk])
    assert alice.get(delete).status_code == 403
    assert alice.post(delete, {"post": "yes"}).status_code == 403
    assert HumanTaskModel.objects.filter(pk=task.pk, status="pending").exists()
    assert b"Delete" not in alice.get(page(task)).content


@pytest.mark.parametrize("query", ["", "?scope=all&status=any"])
def test_inbox__the_same_number_of_queries_for_1_10_and_50_rows(query: str) -> None:
    operator = make_staff("olga", groups=("reviewers",), perms=("view_humantaskmodel",))
    operator.get(INBOX + query)  # warm up: content types, the session
    counts = []
    for total in (1, 10, 50):
        while HumanTaskModel.objects.count() < total:
            if HumanTaskModel.objects.count() % 2:
                review()
            else:
                assigned_to("olga")
        with CaptureQueriesContext(connection) as queries:
            rows = listed(operator, query)
        assert len(rows) == total
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2], counts
    assert counts[0] <= 8, [query["sql"] for query in queries.captured_queries]
    # The rows' query reads none of the large columns the list does not show.
    [rows_sql] = [q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"]]
    for column in ("form_schema", "activity", "context_data", "tokens"):
        assert f'."{column}"' not in rows_sql.replace("`", '"'), column
    assert '"workflow_name"' in rows_sql.replace("`", '"')


def test_inbox__page_size_is_the_admins(alice, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(3):
        review()
    monkeypatch.setattr(HumanTaskAdmin, "list_per_page", 2)

    first = alice.get(INBOX)
    second = alice.get(INBOX + "?p=2")

    assert len(first.context["cl"].result_list) == 2
    assert len(second.context["cl"].result_list) == 1
    assert first.context["cl"].result_count == 3


def test_inbox__counts_up_to_a_cap(alice, monkeypatch: pytest.MonkeyPatch) -> None:
    """An inbox of millions is not counted on every page: past the cap it says "more than"."""
    for _ in range(5):
        review()
    monkeypatch.setattr(HumanTaskAdmin, "list_per_page", 2)
    monkeypatch.setattr(CappedCountPaginator, "cap", 3)

    with CaptureQueriesContext(connection) as queries:
        first = alice.get(INBOX)

    assert b"more than 3 human tasks" in first.content
    assert b'class="showall"' not in first.content
    assert first.context["cl"].result_count == 4  # the cap's row, no further
    [count_sql] = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert "LIMIT 4" in count_sql.upper() and "ORDER BY" not in count_sql.upper()
    assert len(alice.get(INBOX + "?p=2").context["cl"].result_list) == 2

    monkeypatch.setattr(CappedCountPaginator, "cap", 10)
    below = alice.get(INBOX)
    assert b"5 human tasks" in below.content and b"more than" not in below.content
    assert below.context["cl"].result_count == 5


# -- the task page ---------------------------------------------------------------------


def test_task_page__shows_the_task_the_data_the_history_and_the_form(alice) -> None:
    task = review(data={"document": "Quarterly report"})

    response = alice.get(page(task))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>" in html and "Review the document" in html
    assert "Read it, score it, approve or reject it." in html
    assert "&quot;document&quot;: &quot;Quarterly report&quot;" in html  # the instance's data
    assert "&quot;prepared&quot;: true" in html
    history = re.search(r'<div class="module wf-history">(.*?)</div>', html, re.S).group(1)
    assert "<td>prepare</td><td>succeeded</td>" in history
    assert "<td>review</td><td>waiting</td>" in history
    assert 'id="wf-complete-form"' in html
    assert 'name="approved"' in html and 'name="score"' in html and 'name="notes"' in html
    assert set(response.context["form"].fields) == {"approved", "score", "notes"}
    assert 'name="action" value="claim"' in html  # an unclaimed group task
    assert 'name="action" value="reassign"' not in html  # not hers to reassign yet


def test_task_page__invalid_data_shows_the_errors_at_their_fields(alice) -> None:
    task = review()
    before = snapshot(task)

    response = alice.post(page(task), {"action": "complete", "score": "9", "comment": "hm"})

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"approved", "score"}, errors
    html = response.content.decode()
    assert re.search(r'class="form-row errors field-score">\s*<ul class="errorlist', html)
    assert re.search(r'class="form-row errors field-approved">\s*<ul class="errorlist', html)
    assert "form-row errors field-notes" not in html
    assert ">hm</textarea>" in html  # the comment is kept
    assert snapshot(task) == before


def test_task_page__complete_moves_the_instance_on(alice) -> None:
    task = review()

    response = alice.post(
        page(task),
        {"action": "complete", "approved": "true", "score": "4", "comment": "Looks good"},
        follow=True,
    )

    assert response.redirect_chain == [(INBOX, 302)]
    assert messages_of(response) == [
        'Completed "Review the document". The workflow is now completed.'
    ]
    task.refresh_from_db()
    assert task.status == "completed" and task.completed_by == "alice"
    [entry] = task.activity
    assert entry["action"] == "completed" and entry["by"] == "alice"
    assert entry["comment"] == "Looks good"
    instance = WorkflowInstanceModel.objects.get(pk=task.instance_id)
    assert instance.status == "completed"
    assert instance.context_data["published"] is True
    execution = StepExecutionModel.objects.get(instance_id=task.instance_id, step_name="review")
    assert execution.output_data == {"approved": True, "score": 4}
    assert task.pk not in listed(alice)


def test_task_page__completing_twice_changes_nothing_the_second_time(alice) -> None:
    task = review()
    valid = {"action": "complete", "approved": "false", "comment": "first"}
    assert alice.post(page(task), valid).status_code == 302
    after_first = snapshot(task)
    assert after_first[0] == "completed"

    second = alice.post(page(task), {**valid, "approved": "true", "comment": "second"})

    assert second.status_code == 302 and second["Location"] == page(task)
    assert snapshot(task) == after_first
    shown = alice.get(second["Location"])
    assert [message for message in messages_of(shown) if "already completed" in message]
    assert 'id="wf-complete-form"' not in shown.content.decode()
    instance = WorkflowInstanceModel.objects.get(pk=task.instance_id)
    assert instance.context_data["published"] is False  # the first answer's "false"


def test_task_page__claim_release_reassign(alice) -> None:
    task = review()
    make_staff("bob", groups=("reviewers",))

    claimed = alice.post(page(task), {"action": "claim"}, follow=True)
    assert claimed.redirect_chain == [(page(task), 302)]
    assert messages_of(claimed) == ["The task is yours."]
    task.refresh_from_db()
    assert task.assignee_id == "alice" and task.assignee_group == "reviewers"
    assert task.activity[-1]["action"] == "claimed" and task.activity[-1]["by"] == "alice"
    assert b'value="release"' in claimed.content and b'value="reassign"' in claimed.content

    released = alice.post(page(task), {"action": "release"}, follow=True)
    assert messages_of(released) == ["The task is back in its group."]
    task.refresh_from_db()
    assert task.assignee_id is None and task.activity[-1]["action"] == "released"

    alice.post(page(task), {"action": "claim"}, follow=True)
    before = snapshot(task)
    refused = alice.post(page(task), {"action": "reassign", "new_assignee": "bob"}, follow=True)
    assert messages_of(refused) == ["Say why you reassign the task."]
    assert snapshot(task) == before

    reassigned = alice.post(
        page(task),
        {"action": "reassign", "new_assignee": "bob", "reason": "On holiday"},
        follow=True,
    )
    task.refresh_from_db()
    assert task.assignee_id == "bob"
    entry = task.activity[-1]
    assert entry["action"] == "reassigned" and entry["by"] == "alice"
    assert entry["reason"] == "On holiday" and entry["to_assignee"] == "bob"
    # Bob's now: alice no longer sees it (it is not offered to her).
    assert reassigned.redirect_chain[-1] == (page(task), 302)
    assert reassigned.status_code == 404
    assert task.pk not in listed(alice)


def test_task_page__unknown_action_changes_nothing(alice) -> None:
    task = review()
    before = snapshot(task)

    answer = alice.post(page(task), {"action": "delete"}, follow=True)

    assert messages_of(answer) == ["Unknown action."]
    assert snapshot(task) == before


def test_task_page__a_task_assigned_to_someone_else_has_no_complete_form() -> None:
    task = review()
    PersistentExecutionEngine().claim_task_sync(task.pk, "bob")
    operator = make_staff("olga", groups=("reviewers",), perms=("view_humantaskmodel",))
    before = snapshot(task)

    html = operator.get(page(task)).content.decode()

    assert "This task is assigned to bob." in html
    assert 'id="wf-complete-form"' not in html
    assert 'value="claim"' not in html and 'value="release"' not in html
    assert 'value="reassign"' not in html
    refused = operator.post(page(task), {"action": "complete", "approved": "true"}, follow=True)
    assert [message for message in messages_of(refused) if message.startswith("Not allowed")] or [
        message for message in messages_of(refused) if "not yours" in message
    ]
    assert snapshot(task) == before
    operator.post(page(task), {"action": "release"})
    operator.post(page(task), {"action": "reassign", "new_assignee": "olga", "reason": "x"})
    assert snapshot(task) == before


def test_task_page__complete_any_task_overrides_the_assignment() -> None:
    task = review()
    PersistentExecutionEngine().claim_task_sync(task.pk, "bob")
    supervisor = make_staff("sue", perms=("complete_any_task",))

    html = supervisor.get(page(task)).content.decode()
    assert 'id="wf-complete-form"' in html
    answer = supervisor.post(page(task), {"action": "complete", "approved": "true"})

    assert answer.status_code == 302 and answer["Location"] == INBOX
    task.refresh_from_db()
    assert task.status == "completed" and task.completed_by == "sue"


def test_task_page__a_task_not_offered_is_not_found(alice) -> None:
    managers = expense()
    bobs = assigned_to("bob")

    for task in (managers, bobs):
        before = snapshot(task)
        assert alice.get(page(task)).status_code == 404
        for action in ("complete", "claim", "release"):
            answer = alice.post(page(task), {"action": action, "approved": "true"})
            assert answer.status_code == 404
        assert snapshot(task) == before
    missing = reverse("admin:workflows_app_humantaskmodel_change", args=[uuid.uuid4()])
    assert alice.get(missing).status_code == 404
    not_a_uuid = reverse("admin:workflows_app_humantaskmodel_change", args=["nope"])
    assert alice.get(not_a_uuid).status_code == 404


def test_task_page__a_completed_task_shows_who_completed_it(alice) -> None:
    task = review()
    PersistentExecutionEngine().complete_task_sync(task.pk, "alice", {"approved": True})

    text = alice.get(page(task)).content.decode()

    completed_by = text.split('id="wf-completed-by">', 1)[1].split("</dd>", 1)[0]
    assert completed_by.startswith("alice, <time datetime=")
    assigned_to = text.split('id="wf-assigned-to">', 1)[1].split("</dd>", 1)[0]
    assert assigned_to == "group reviewers"  # not "(unclaimed)": nobody may claim it now
    # In the list too: who completed it, not the group it was offered to.
    listing = alice.get(INBOX + "?status=completed").content.decode()
    assert "<em>completed by</em> alice" in listing
    # A pending one still says it waits for someone of the group.
    pending = review()
    assert "group reviewers (unclaimed)" in alice.get(page(pending)).content.decode()
