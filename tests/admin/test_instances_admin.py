"""The operations console's instances: the WorkflowInstanceModel changelist, its bulk
actions, and an instance's page, through the Django test client as staff users, on the
real engine.

Workflows (``tests/api/workflows.py``): ``api_review`` runs ``prepare`` and waits at the
``review`` task of the group ``reviewers``; ``api_flaky`` fails at ``charge`` the first
time and completes when retried; ``api_webhook`` waits for a webhook call.
"""

from __future__ import annotations

import hashlib
import html
import uuid
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.admin.console_support import (
    OPERATOR_PERMS,
    make_staff,
    messages_of,
    snapshot,
    start,
)
from tests.api import workflows
from workflows_app import Workflow
from workflows_app.admin.base import MERMAID_SCRIPT
from workflows_app.admin.instances import WorkflowInstanceAdmin, duration_text
from workflows_app.core.registry import default_registry
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel
from workflows_app.services import get_service

pytestmark = pytest.mark.django_db

LIST = reverse("admin:workflows_app_workflowinstancemodel_changelist")


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


def page(instance: WorkflowInstanceModel) -> str:
    return reverse("admin:workflows_app_workflowinstancemodel_change", args=[instance.pk])


def listed(client: Client, query: str = "") -> list[uuid.UUID]:
    """The ids of the instances the list shows for ``query``, in their order."""
    response = client.get(LIST + query)
    assert response.status_code == 200, response
    return [row.pk for row in response.context["cl"].result_list]


def filter_choices(client: Client, parameter: str) -> list[str]:
    """The choices (display texts) of the list's filter on ``parameter``, "All" left out."""
    response = client.get(LIST)
    [found] = [
        spec for spec in response.context["cl"].filter_specs if spec.parameter_name == parameter
    ]
    return [title for _value, title in found.lookup_choices]


def bulk(client: Client, action: str, *instances: WorkflowInstanceModel):
    """Run a bulk action of the list on ``instances``; follow the redirect."""
    return client.post(
        LIST,
        {"action": action, "index": 0, "_selected_action": [str(row.pk) for row in instances]},
        follow=True,
    )


@pytest.fixture
def operator() -> Client:
    """Sees every instance of tenant ``acme``; may cancel and retry."""
    return make_staff("operator", perms=OPERATOR_PERMS, tenant="acme")


# -- the list --------------------------------------------------------------------------


def test_list__a_tenant_sees_only_its_rows_in_the_list_filters_and_search(operator) -> None:
    ours = [start("api_review", tenant="acme"), start("api_flaky", tenant="acme")]
    theirs = [start("api_webhook", tenant="globex"), start("api_review", tenant="globex")]
    untenanted = start("api_review", tenant=None)

    assert set(listed(operator)) == {row.pk for row in ours}
    assert filter_choices(operator, "tenant") == ["acme"]
    assert filter_choices(operator, "workflow") == ["api_flaky", "api_review"]
    # Asking for another tenant's rows by filter or search finds nothing.
    assert listed(operator, "?tenant=globex") == []
    assert listed(operator, "?workflow=api_webhook") == []
    assert listed(operator, f"?q={str(theirs[0].pk)[:8]}") == []
    assert listed(operator, f"?q={untenanted.pk}") == []
    text = operator.get(LIST).content.decode()
    for row in [*theirs, untenanted]:
        assert str(row.pk) not in text


def test_list__a_user_without_a_tenant_sees_the_rows_without_one() -> None:
    client = make_staff("solo", perms=("view_workflowinstancemodel",))
    untenanted = start("api_flaky", tenant=None)
    start("api_flaky", tenant="acme")

    assert listed(client) == [untenanted.pk]
    assert filter_choices(client, "tenant") == ["(none)"]
    assert listed(client, "?tenant=-") == [untenanted.pk]


def test_list__without_view_permission_own_and_task_instances_only() -> None:
    client = make_staff("rita", groups=("reviewers",), tenant="acme")
    started = start("api_flaky", tenant="acme", by="rita")
    task_held = start("api_review", tenant="acme", by="someone")  # a task of "reviewers"
    start("api_flaky", tenant="acme", by="someone")  # neither
    start("api_webhook", tenant="acme", by="someone")  # neither

    assert set(listed(client)) == {started.pk, task_held.pk}
    assert filter_choices(client, "workflow") == ["api_flaky", "api_review"]


def test_list__columns_order_and_filters(operator) -> None:
    failed = start("api_flaky", tenant="acme", by="fred")
    waiting = start("api_review", tenant="acme", by="wilma")

    response = operator.get(LIST)
    text = response.content.decode()

    assert response.context["title"] == "Workflow instances"
    assert [row.pk for row in response.context["cl"].result_list] == [waiting.pk, failed.pk]
    assert f'<code class="wf-sub" title="{failed.pk}">{str(failed.pk)[:8]}</code>' in text
    assert f'<a href="{page(failed)}">api_flaky</a> <span class="wf-version">1.0.0</span>' in text
    assert '<span class="wf-badge wf-badge-failed">failed</span>' in text
    # A live instance's current step is under its status; the starter under the start.
    assert (
        '<span class="wf-badge wf-badge-waiting">waiting</span><span class="wf-sub">at review'
    ) in text
    assert '<span class="wf-sub">by wilma</span>' in text
    # Tenancy is on: every row is the user's tenant's, so there is no tenant column.
    headers = [header["text"] for header in response.context["result_headers"]]
    assert headers[1:] == ["instance", "status", "started", "ended"]  # [0]: the checkbox
    assert listed(operator, "?status=failed") == [failed.pk]
    assert listed(operator, "?status=waiting&workflow=api_review") == [waiting.pk]
    assert listed(operator, "?status=completed") == []
    assert listed(operator, "?workflow=api_flaky") == [failed.pk]


def test_list__search_by_short_id_whole_id_workflow_and_creator(operator) -> None:
    first = start("api_flaky", tenant="acme", by="fred")
    second = start("api_review", tenant="acme", by="wilma")

    assert listed(operator, f"?q={str(first.pk)[:8]}") == [first.pk]
    assert listed(operator, f"?q={first.pk}") == [first.pk]
    assert listed(operator, "?q=api_review") == [second.pk]
    assert listed(operator, "?q=wilma") == [second.pk]
    assert listed(operator, "?q=nobody-has-this") == []
    assert listed(operator, "?q=----") == []


def test_list__queries_do_not_grow_with_the_rows(operator) -> None:
    start("api_review", tenant="acme")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = operator.get(LIST)
        assert response.status_code == 200
        return len(captured.captured_queries), len(response.context["cl"].result_list)

    one, rows = queries()
    assert rows == 1
    for number in range(19):
        start(("api_review", "api_flaky", "api_webhook")[number % 3], tenant="acme")
    twenty, rows = queries()

    assert rows == 20
    assert twenty == one


def test_list__no_add_change_or_delete(operator) -> None:
    instance = start("api_flaky", tenant="acme")
    admin_site = WorkflowInstanceAdmin(WorkflowInstanceModel, None)

    response = operator.get(LIST)
    assert response.status_code == 200
    # no add link for instances (the navigation's Substitutions has one: anyone adds theirs)
    assert reverse("admin:workflows_app_workflowinstancemodel_add") not in response.content.decode()
    assert "delete_selected" not in response.content.decode()
    assert operator.get(reverse("admin:workflows_app_workflowinstancemodel_add")).status_code == 403
    delete = reverse("admin:workflows_app_workflowinstancemodel_delete", args=[instance.pk])
    assert operator.post(delete, {"post": "yes"}).status_code == 403
    assert WorkflowInstanceModel.objects.filter(pk=instance.pk).exists()
    request = response.wsgi_request
    assert not admin_site.has_add_permission(request)
    assert not admin_site.has_change_permission(request, instance)
    assert not admin_site.has_delete_permission(request, instance)


def test_list__not_for_users_who_are_not_staff() -> None:
    client = make_staff("visitor", perms=OPERATOR_PERMS, staff=False)

    response = client.get(LIST)

    assert response.status_code == 302
    assert "/login/" in response["Location"]


# -- bulk actions ----------------------------------------------------------------------


def test_bulk_actions__offered_only_with_the_permissions() -> None:
    start("api_flaky", tenant="acme")
    both = make_staff("both", perms=OPERATOR_PERMS, tenant="acme")
    canceller = make_staff(
        "canceller", perms=("view_workflowinstancemodel", "cancel_workflow"), tenant="acme"
    )
    viewer = make_staff("viewer", perms=("view_workflowinstancemodel",), tenant="acme")

    def offered(client: Client) -> list[str]:
        form = client.get(LIST).context["action_form"]
        return [] if form is None else [name for name, _ in form.fields["action"].choices if name]

    assert offered(both) == ["cancel_instances", "retry_instances"]
    assert offered(canceller) == ["cancel_instances"]
    assert offered(viewer) == []
    text = both.get(LIST).content.decode()
    assert "Cancel selected instances" in text
    assert "Retry selected failed instances" in text


def test_bulk_cancel__cancels_the_live_ones_and_says_why_not_the_others(operator) -> None:
    waiting = start("api_review", tenant="acme")
    webhook = start("api_webhook", tenant="acme")
    failed = start("api_flaky", tenant="acme")
    before = snapshot(failed)

    response = bulk(operator, "cancel_instances", waiting, webhook, failed)

    assert response.status_code == 200
    notes = messages_of(response)
    assert "Canceled 2 instances." in notes
    [refusal] = [note for note in notes if "not canceled" in note]
    assert refusal.startswith(f"1 instance not canceled: {str(failed.pk)[:8]}: ")
    assert "failed" in refusal
    for row in (waiting, webhook):
        row.refresh_from_db()
        assert row.status == "canceled"
        assert row.error == "Canceled: Canceled from the admin by operator"
    assert HumanTaskModel.objects.get(instance_id=waiting.pk).status == "canceled"
    assert snapshot(failed) == before


def test_bulk_cancel__without_the_permission_changes_nothing() -> None:
    viewer = make_staff("viewer", perms=("view_workflowinstancemodel",), tenant="acme")
    waiting = start("api_review", tenant="acme")
    before = snapshot(waiting)

    response = bulk(viewer, "cancel_instances", waiting)

    assert response.status_code == 200
    assert snapshot(waiting) == before
    assert not any("Canceled" in note for note in messages_of(response))


def test_bulk_cancel__another_tenants_ids_are_left_alone(operator) -> None:
    ours = start("api_review", tenant="acme")
    theirs = start("api_review", tenant="globex")
    before = snapshot(theirs)

    response = bulk(operator, "cancel_instances", ours, theirs)

    assert "Canceled 1 instance." in messages_of(response)
    assert snapshot(theirs) == before
    ours.refresh_from_db()
    assert ours.status == "canceled"


def test_bulk_retry__completes_a_failed_instance_and_refuses_a_waiting_one(operator) -> None:
    failed = start("api_flaky", tenant="acme")
    waiting = start("api_review", tenant="acme")
    assert failed.status == "failed"
    before = snapshot(waiting)

    response = bulk(operator, "retry_instances", failed, waiting)

    notes = messages_of(response)
    assert "Retried 1 instance." in notes
    [refusal] = [note for note in notes if "not retried" in note]
    assert refusal.startswith(f"1 instance not retried: {str(waiting.pk)[:8]}: ")
    assert "only failed workflows can be retried" in refusal
    failed.refresh_from_db()
    assert failed.status == "completed"
    assert failed.context_data["charged"] is True
    assert snapshot(waiting) == before


def test_bulk_retry__without_the_permission_changes_nothing() -> None:
    canceller = make_staff(
        "canceller", perms=("view_workflowinstancemodel", "cancel_workflow"), tenant="acme"
    )
    failed = start("api_flaky", tenant="acme")
    before = snapshot(failed)

    bulk(canceller, "retry_instances", failed)

    assert snapshot(failed) == before


# -- the instance page -----------------------------------------------------------------


def test_page__summary_graph_timeline_tasks_and_data(operator) -> None:
    instance = start("api_review", {"document": "Q3 report"}, tenant="acme", by="wilma")
    task = HumanTaskModel.objects.get(instance_id=instance.pk)

    response = operator.get(page(instance))
    text = response.content.decode()

    assert response.status_code == 200
    assert response.context["title"] == f"api_review {str(instance.pk)[:8]}"
    summary = text[text.index("wf-instance-summary") : text.index("wf-graph")]
    assert '<span class="wf-badge wf-badge-waiting">waiting</span>' in summary
    assert "1.0.0" in summary and "acme" in summary and "wilma" in summary
    assert "review" in summary  # the current step
    # The graph: Mermaid text with the state, once, for people and for mermaid.js.
    mermaid = response.context["mermaid"]
    assert mermaid.startswith("graph TD")
    assert "style prepare" in mermaid and "style review" in mermaid
    assert '<div class="wf-graph-drawing" data-mermaid-url="' in text
    assert text.count(html.escape(mermaid)) == 1
    assert (
        '<details class="wf-graph-source"><summary>Mermaid text</summary>'
        f'<pre class="wf-json" id="wf-graph-text">{html.escape(mermaid)}</pre></details>'
    ) in text
    # The timeline: prepare succeeded, review waits.
    timeline = text[text.index("wf-timeline") : text.index("wf-tasks")]
    assert timeline.index("prepare") < timeline.index("review")
    assert '<tr class="wf-step-succeeded">' in timeline
    assert '<tr class="wf-step-waiting">' in timeline
    assert "<summary>output</summary>" in timeline or "<summary>input</summary>" in timeline
    # Its task, linked to the task page.
    task_url = reverse("admin:workflows_app_humantaskmodel_change", args=[task.pk])
    assert f'<a href="{task_url}">Review the document</a>' in text
    # Its data and metadata.
    context_json = text[text.index('id="wf-context-json"') : text.index("wf-metadata")]
    assert "&quot;document&quot;: &quot;Q3 report&quot;" in context_json
    assert "&quot;prepared&quot;: true" in context_json
    assert 'id="wf-metadata-json"' in text


def test_page__lists_only_the_tasks_the_user_may_see() -> None:
    viewer = make_staff("viewer", perms=("view_workflowinstancemodel",), tenant="acme")
    reviewer = make_staff("rita", groups=("reviewers",), tenant="acme")
    instance = start("api_review", tenant="acme")
    task = HumanTaskModel.objects.get(instance_id=instance.pk)
    task_url = reverse("admin:workflows_app_humantaskmodel_change", args=[task.pk])

    assert task_url not in viewer.get(page(instance)).content.decode()
    assert "No tasks you may see." in viewer.get(page(instance)).content.decode()
    assert task_url in reviewer.get(page(instance)).content.decode()


def test_page__mermaid_url_setting_is_where_the_graph_script_loads_from(operator) -> None:
    instance = start("api_flaky", tenant="acme")
    url = "https://static.example.com/mermaid@11/mermaid.esm.min.mjs"

    with override_settings(WORKFLOWS={"TENANT_RESOLVER": "project.demo.tenancy.tenant_of"}):
        default = operator.get(page(instance)).content.decode()
    with override_settings(
        WORKFLOWS={"TENANT_RESOLVER": "project.demo.tenancy.tenant_of", "MERMAID_URL": url}
    ):
        custom = operator.get(page(instance)).content.decode()

    vendored = "/static/workflows_app/vendor/mermaid/mermaid.min.js"
    assert f'data-mermaid-url="{vendored}"' in default
    assert f'data-mermaid-url="{url}"' in custom
    assert vendored not in custom
    assert '<script type="module" src="/static/workflows_app/graph.js"></script>' in custom


def test_page__the_vendored_mermaid_script_is_a_static_file_its_readme_describes() -> None:
    found = finders.find(MERMAID_SCRIPT)
    assert found is not None
    script = Path(found)
    readme = (script.parent / "README.md").read_text()
    assert (script.parent / "LICENSE").read_text().startswith("The MIT License")
    assert hashlib.sha256(script.read_bytes()).hexdigest() in readme
    # The single-file build: it defines window.mermaid and imports nothing.
    text = script.read_text()
    assert text.rstrip().endswith(
        'globalThis["mermaid"] = globalThis.__esbuild_esm_mermaid_nm["mermaid"].default;'
    )
    assert "import(" not in text and "sourceMappingURL" not in text


def test_page__failed_step_is_shown_with_its_error(operator) -> None:
    instance = start("api_flaky", tenant="acme")

    response = operator.get(page(instance))
    text = response.content.decode()

    assert '<tr class="wf-step-failed">' in text
    assert "card declined" in text
    assert "style charge fill:" in response.context["mermaid"]
    assert "No tasks you may see." in text


def test_page__buttons_only_when_allowed_and_meaningful() -> None:
    operator = make_staff("operator", perms=OPERATOR_PERMS, tenant="acme")
    viewer = make_staff("viewer", perms=("view_workflowinstancemodel",), tenant="acme")
    waiting = start("api_review", tenant="acme")
    failed = start("api_flaky", tenant="acme")
    done = start("api_flaky", tenant="acme")
    operator.post(page(done), {"action": "retry"})
    done.refresh_from_db()
    assert done.status == "completed"

    def buttons(client: Client, instance: WorkflowInstanceModel) -> set[str]:
        text = client.get(page(instance)).content.decode()
        return {name for name in ("_cancel", "_retry") if f'name="{name}"' in text}

    assert buttons(operator, waiting) == {"_cancel"}
    assert buttons(operator, failed) == {"_retry"}
    assert buttons(operator, done) == set()
    assert buttons(viewer, waiting) == set()
    assert buttons(viewer, failed) == set()
    text = operator.get(page(failed)).content.decode()
    assert '<input type="hidden" name="action" value="retry">' in text
    assert '<option value="charge">charge</option>' in text
    text = operator.get(page(waiting)).content.decode()
    assert '<input type="hidden" name="action" value="cancel">' in text
    assert 'name="reason"' in text


def test_page__cancel_with_a_reason_redirects_back(operator) -> None:
    instance = start("api_review", tenant="acme")

    response = operator.post(page(instance), {"action": "cancel", "reason": "customer left"})

    assert response.status_code == 302
    assert response["Location"] == page(instance)
    instance.refresh_from_db()
    assert instance.status == "canceled"
    assert instance.error == "Canceled: customer left"
    assert HumanTaskModel.objects.get(instance_id=instance.pk).status == "canceled"
    after = operator.get(page(instance))
    assert "The instance was canceled." in messages_of(after)
    assert '<span class="wf-badge wf-badge-canceled">canceled</span>' in after.content.decode()


def test_page__cancel_without_a_reason_changes_nothing(operator) -> None:
    instance = start("api_review", tenant="acme")
    before = snapshot(instance)

    response = operator.post(page(instance), {"action": "cancel", "reason": "  "}, follow=True)

    assert "Say why you cancel the instance." in messages_of(response)
    assert snapshot(instance) == before


def test_page__cancel_or_retry_without_the_permission_changes_nothing() -> None:
    viewer = make_staff("viewer", perms=("view_workflowinstancemodel",), tenant="acme")
    waiting = start("api_review", tenant="acme")
    failed = start("api_flaky", tenant="acme")
    before = snapshot(waiting), snapshot(failed)

    cancel = viewer.post(page(waiting), {"action": "cancel", "reason": "x"}, follow=True)
    retry = viewer.post(page(failed), {"action": "retry"}, follow=True)

    assert messages_of(cancel) == ["Not allowed: You may not cancel workflows"]
    assert messages_of(retry) == ["Not allowed: You may not retry workflows"]
    assert (snapshot(waiting), snapshot(failed)) == before


def test_page__retry_of_a_failed_instance_completes_it(operator) -> None:
    instance = start("api_flaky", tenant="acme")

    response = operator.post(page(instance), {"action": "retry", "from_step": ""}, follow=True)

    assert response.redirect_chain == [(page(instance), 302)]
    assert "The instance runs again from its failed step." in messages_of(response)
    instance.refresh_from_db()
    assert instance.status == "completed"
    text = response.content.decode()
    assert '<span class="wf-badge wf-badge-completed">completed</span>' in text
    timeline = text[text.index("wf-timeline") :]
    assert '<tr class="wf-step-failed">' in timeline
    assert '<tr class="wf-step-succeeded">' in timeline


def test_page__retry_from_a_chosen_step(operator) -> None:
    instance = start("api_flaky", tenant="acme")

    response = operator.post(
        page(instance), {"action": "retry", "from_step": "charge"}, follow=True
    )

    assert "The instance runs again from step charge." in messages_of(response)
    instance.refresh_from_db()
    assert instance.status == "completed"


def test_page__retry_of_an_instance_that_did_not_fail_is_refused(operator) -> None:
    instance = start("api_review", tenant="acme")
    before = snapshot(instance)

    response = operator.post(page(instance), {"action": "retry"}, follow=True)

    [note] = messages_of(response)
    assert "only failed workflows can be retried" in note
    assert snapshot(instance) == before


def test_page__retry_from_an_unknown_step_is_refused(operator) -> None:
    instance = start("api_flaky", tenant="acme")
    before = snapshot(instance)

    response = operator.post(page(instance), {"action": "retry", "from_step": "nope"}, follow=True)

    [note] = messages_of(response)
    assert "nope" in note
    assert snapshot(instance) == before


def test_page__unknown_action_changes_nothing(operator) -> None:
    instance = start("api_review", tenant="acme")
    before = snapshot(instance)

    response = operator.post(page(instance), {"action": "delete"}, follow=True)

    assert messages_of(response) == ["Unknown action."]
    assert snapshot(instance) == before


def test_page__another_tenants_or_an_invisible_instance_is_not_found(operator) -> None:
    theirs = start("api_review", tenant="globex")
    before = snapshot(theirs)
    someone_elses = start("api_flaky", tenant="acme", by="someone")
    rita = make_staff("rita", tenant="acme")  # no view permission, no task of it

    assert operator.get(page(theirs)).status_code == 404
    assert operator.post(page(theirs), {"action": "cancel", "reason": "x"}).status_code == 404
    assert snapshot(theirs) == before
    assert rita.get(page(someone_elses)).status_code == 404
    assert operator.get(page(someone_elses)).status_code == 200
    missing = reverse("admin:workflows_app_workflowinstancemodel_change", args=[uuid.uuid4()])
    assert operator.get(missing).status_code == 404
    not_an_id = reverse("admin:workflows_app_workflowinstancemodel_change", args=["nope"])
    assert operator.get(not_an_id).status_code == 404


def test_page__an_instance_whose_version_left_the_registry_still_shows(operator) -> None:
    from workflows_app import BaseMachineStep

    class Wait(BaseMachineStep):
        name = "wait_here"

        def execute(self, context):
            raise RuntimeError("stop")

    class Retired(Workflow):
        name = "admin_retired"
        version = "0.1.0"
        steps = [Wait]
        edges = []

    default_registry.register(Retired)
    try:
        instance = start("admin_retired", tenant="acme")
    finally:
        default_registry.unregister("admin_retired")

    response = operator.get(page(instance))

    assert response.status_code == 200
    assert "is not in the registry" in response.content.decode()
    assert 'class="mermaid"' not in response.content.decode()


def test_duration_text() -> None:
    from datetime import timedelta

    assert duration_text(None) == ""
    assert duration_text(timedelta(milliseconds=850)) == "850 ms"
    assert duration_text(timedelta(seconds=12.44)) == "12.4 s"
    assert duration_text(timedelta(minutes=3, seconds=5)) == "3 min 5 s"
    assert duration_text(timedelta(hours=2, minutes=10)) == "2 h 10 min"
    assert duration_text(timedelta(days=3, hours=4)) == "3 d 4 h"


def test_page__a_failed_or_canceled_instance_has_ended_not_completed(operator) -> None:
    failed = start("api_flaky", tenant="acme")
    canceled = start("api_review", tenant="acme")
    get_service().engine.cancel_workflow_sync(canceled.pk, "not needed")

    for row in (failed, canceled):
        text = operator.get(page(row)).content.decode()
        assert "<dt>Ended</dt>" in text and "Completed</dt>" not in text
        ended = text.split('id="wf-instance-ended">', 1)[1].split("</dd>", 1)[0]
        assert ended.startswith("<time datetime=") and "just now" in ended
    listing = operator.get(LIST + "?status=canceled")
    headers = [header["text"] for header in listing.context["result_headers"]]
    assert "ended" in headers and "completed" not in headers
