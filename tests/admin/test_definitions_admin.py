"""The operations console's definitions: the WorkflowDefinitionModel changelist with its
live-instance counts, activating and deactivating versions, and a version's page, through
the Django test client as staff users, on the real engine.
"""

from __future__ import annotations

import html

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.admin.console_support import make_staff, messages_of, start
from tests.api import workflows
from workflows_app.core.exceptions import WorkflowNotFoundError, WorkflowStateError
from workflows_app.core.registry import default_registry
from workflows_app.models import WorkflowDefinitionModel, WorkflowInstanceModel
from workflows_app.services import Actor, NotAllowedError, get_service

pytestmark = pytest.mark.django_db

LIST = reverse("admin:workflows_app_workflowdefinitionmodel_changelist")
MANAGE = ("change_workflowdefinitionmodel",)


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


@pytest.fixture(autouse=True)
def _synced() -> None:
    """Every registered version has its row (as ``manage.py workflows_sync`` makes them)."""
    get_service().engine.sync_definitions()


def row(name: str, version: str) -> WorkflowDefinitionModel:
    return WorkflowDefinitionModel.objects.get(name=name, version=version)


def page(definition: WorkflowDefinitionModel) -> str:
    return reverse("admin:workflows_app_workflowdefinitionmodel_change", args=[definition.pk])


def live_counts(client: Client, query: str = "") -> dict[tuple[str, str], int]:
    response = client.get(LIST + query)
    assert response.status_code == 200, response
    return {
        (item.name, item.version): item.live_instances
        for item in response.context["cl"].result_list
    }


def bulk(client: Client, action: str, *rows: WorkflowDefinitionModel):
    return client.post(
        LIST,
        {"action": action, "index": 0, "_selected_action": [str(item.pk) for item in rows]},
        follow=True,
    )


# -- the list --------------------------------------------------------------------------


def test_list__every_version_for_every_staff_user_with_its_tenants_live_count() -> None:
    acme = make_staff("ann", tenant="acme")  # no permission at all: definitions are public
    globex = make_staff("gus", tenant="globex")
    for _ in range(2):
        start("api_webhook", tenant="acme")  # waiting
    start("api_review", tenant="acme")  # waiting
    start("api_flaky", tenant="acme")  # failed: not live
    start("api_webhook", tenant="globex")
    start("api_versioned", tenant="acme", version="1.0.0")  # completed: not live

    ours, theirs = live_counts(acme), live_counts(globex)

    assert ours[("api_webhook", "1.0.0")] == 2
    assert ours[("api_review", "1.0.0")] == 1
    assert ours[("api_flaky", "1.0.0")] == 0
    assert ours[("api_versioned", "1.0.0")] == 0
    assert ours[("api_versioned", "2.0.0")] == 0
    assert theirs[("api_webhook", "1.0.0")] == 1
    assert theirs[("api_review", "1.0.0")] == 0
    assert (
        set(ours)
        == set(theirs)
        == set(WorkflowDefinitionModel.objects.values_list("name", "version"))
    )


def test_list__without_tenancy_counts_every_tenant() -> None:
    client = make_staff("ann", tenant="acme")
    start("api_webhook", tenant="acme")
    start("api_webhook", tenant="globex")
    start("api_webhook", tenant=None)

    with override_settings(WORKFLOWS={}):
        counts = live_counts(client)

    assert counts[("api_webhook", "1.0.0")] == 3


def test_list__columns_filters_and_search() -> None:
    client = make_staff("ann")
    WorkflowDefinitionModel.objects.deactivate_version("api_versioned", "1.0.0")

    response = client.get(LIST)
    text = response.content.decode()

    assert response.status_code == 200
    assert response.context["title"] == "Workflow definitions"
    assert "Fails at its only step; retrying it completes it." in text
    assert 'alt="False"' in text and 'alt="True"' in text  # the active flag's icons
    assert list(live_counts(client, "?is_active__exact=0")) == [("api_versioned", "1.0.0")]
    assert set(live_counts(client, "?name=api_versioned")) == {
        ("api_versioned", "1.0.0"),
        ("api_versioned", "2.0.0"),
    }
    assert set(live_counts(client, "?q=webhook")) == {("api_webhook", "1.0.0")}


def test_list__versions_newest_first_by_semantic_versioning() -> None:
    """Text would put "1.10.0" before "1.9.0"; the list sorts versions as versions."""
    for version in ("1.9.0", "1.10.0", "1.2.0", "2.0.0-rc.1", "2.0.0", "0.9"):
        WorkflowDefinitionModel.objects.create(name="semver_demo", version=version)
    client = make_staff("ann")

    newest_first = [version for _name, version in live_counts(client, "?name=semver_demo")]
    by_header = client.get(LIST + "?name=semver_demo&o=1")  # the version column, ascending
    oldest_first = [item.version for item in by_header.context["cl"].result_list]

    assert newest_first == ["2.0.0", "2.0.0-rc.1", "1.10.0", "1.9.0", "1.2.0", "0.9"]
    assert oldest_first == newest_first[::-1]


def test_list__queries_do_not_grow_with_the_instances() -> None:
    client = make_staff("ann", tenant="acme")
    start("api_webhook", tenant="acme")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIST).status_code == 200
        return len(captured.captured_queries)

    few = queries()
    for number in range(20):
        start(("api_webhook", "api_review", "api_flaky")[number % 3], tenant="acme")
    many = queries()

    assert many == few
    assert live_counts(client)[("api_webhook", "1.0.0")] == 8


def test_list__no_add_change_or_delete() -> None:
    client = make_staff("ann", perms=MANAGE)
    definition = row("api_review", "1.0.0")

    text = client.get(LIST).content.decode()

    # no add link for definitions (the navigation's Substitutions has one: anyone adds theirs)
    assert reverse("admin:workflows_app_workflowdefinitionmodel_add") not in text
    assert "delete_selected" not in text
    assert client.get(reverse("admin:workflows_app_workflowdefinitionmodel_add")).status_code == 403
    delete = reverse("admin:workflows_app_workflowdefinitionmodel_delete", args=[definition.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert WorkflowDefinitionModel.objects.filter(pk=definition.pk).exists()
    form = client.get(page(definition)).content.decode()
    assert 'name="description"' not in form and 'name="_save"' not in form


# -- activate and deactivate -----------------------------------------------------------


def test_actions__offered_only_with_the_permission() -> None:
    manager = make_staff("mia", perms=MANAGE)
    viewer = make_staff("vic")

    form = manager.get(LIST).context["action_form"]
    assert [name for name, _ in form.fields["action"].choices if name] == [
        "activate_versions",
        "deactivate_versions",
    ]
    assert viewer.get(LIST).context["action_form"] is None


def test_deactivate__a_deactivated_version_starts_nothing_and_its_instances_go_on() -> None:
    manager = make_staff("mia", perms=MANAGE)
    running = start("api_webhook", tenant=None)
    token = running.step_executions.get(step_name="await_payment").callback_token

    response = bulk(manager, "deactivate_versions", row("api_webhook", "1.0.0"))

    assert "Deactivated api_webhook 1.0.0." in messages_of(response)
    assert row("api_webhook", "1.0.0").is_active is False
    before = WorkflowInstanceModel.objects.count()
    with pytest.raises(WorkflowStateError, match="deactivated"):
        start("api_webhook")
    assert WorkflowInstanceModel.objects.count() == before
    # Its running instance finishes.
    get_service().complete_webhook(token, {"paid": True})
    running.refresh_from_db()
    assert running.status == "completed"

    response = bulk(manager, "activate_versions", row("api_webhook", "1.0.0"))

    assert "Activated api_webhook 1.0.0." in messages_of(response)
    assert start("api_webhook").status == "waiting"


def test_deactivate__without_the_permission_changes_nothing() -> None:
    viewer = make_staff("vic", perms=("view_workflowdefinitionmodel",))

    bulk(viewer, "deactivate_versions", row("api_review", "1.0.0"))
    response = viewer.post(page(row("api_review", "1.0.0")), {"action": "deactivate"}, follow=True)

    assert row("api_review", "1.0.0").is_active is True
    assert messages_of(response) == [
        "Not allowed: You may not activate or deactivate workflow versions"
    ]
    assert start("api_review").status == "waiting"


def test_service__activate_and_deactivate_check_permission_and_existence() -> None:
    service = get_service()
    nobody = Actor(user_id="nobody")
    manager = Actor(user_id="mia", has_perm=lambda codename: codename in MANAGE)

    with pytest.raises(NotAllowedError):
        service.deactivate_definition(nobody, "api_review", "1.0.0")
    assert row("api_review", "1.0.0").is_active is True
    with pytest.raises(WorkflowNotFoundError):
        service.deactivate_definition(manager, "api_review", "9.9.9")
    service.deactivate_definition(manager, "api_review", "1.0.0")
    assert row("api_review", "1.0.0").is_active is False
    service.activate_definition(manager, "api_review", "1.0.0")
    assert row("api_review", "1.0.0").is_active is True


# -- a version's page ------------------------------------------------------------------


def test_page__graph_steps_and_edges_from_the_registry() -> None:
    client = make_staff("ann", tenant="acme")
    start("api_review", tenant="acme")
    definition = row("api_review", "1.0.0")
    mermaid = default_registry.get_definition("api_review", "1.0.0").to_mermaid()

    response = client.get(page(definition))
    text = response.content.decode()

    assert response.status_code == 200
    assert response.context["title"] == "api_review 1.0.0"
    vendored = "/static/workflows_app/vendor/mermaid/mermaid.min.js"
    assert f'<div class="wf-graph-drawing" data-mermaid-url="{vendored}"' in text
    assert text.count(html.escape(mermaid)) == 1  # under "Mermaid text", drawn from there
    steps = text[text.index("wf-steps") : text.index("wf-edges")]
    for name in ("prepare", "review", "publish", "archive"):
        assert f"<tr><td>{name}" in steps
    assert "<td>human</td>" in steps
    assert "Read it, score it, approve or reject it." in steps
    edges = text[text.index("wf-edges") :]
    assert "<tr><td>review</td><td>publish</td><td><code>approved</code></td></tr>" in edges
    assert "<tr><td>prepare</td><td>review</td><td>always</td></tr>" in edges
    live = text[text.index('id="wf-definition-live"') :]
    assert live.startswith('id="wf-definition-live"><a href="')
    assert ">1</a>" in live[:200]


def test_page__mermaid_url_setting() -> None:
    client = make_staff("ann")
    url = "/static/elsewhere/mermaid.esm.min.mjs"

    with override_settings(WORKFLOWS={"MERMAID_URL": url}):
        text = client.get(page(row("api_flaky", "1.0.0"))).content.decode()

    assert f'data-mermaid-url="{url}"' in text


def test_page__deactivate_and_activate_buttons() -> None:
    manager = make_staff("mia", perms=MANAGE)
    viewer = make_staff("vic")
    definition = row("api_review", "1.0.0")

    assert 'name="_deactivate"' in manager.get(page(definition)).content.decode()
    assert 'name="_deactivate"' not in viewer.get(page(definition)).content.decode()
    response = manager.post(page(definition), {"action": "deactivate"})
    assert response.status_code == 302 and response["Location"] == page(definition)
    assert row("api_review", "1.0.0").is_active is False
    after = manager.get(page(definition))
    assert "api_review 1.0.0 starts no new instances; its running ones go on." in messages_of(after)
    assert 'name="_activate"' in after.content.decode()
    manager.post(page(definition), {"action": "activate"})
    assert row("api_review", "1.0.0").is_active is True


def test_page__a_version_gone_from_the_registry_shows_its_stored_steps() -> None:
    client = make_staff("ann")
    stored = WorkflowDefinitionModel.objects.create(
        name="admin_gone",
        version="0.9.0",
        definition_json={
            "steps": ["first", "second"],
            "edges": [{"source": "first", "target": "second", "condition": None}],
            "initial_step": "first",
            "terminal_steps": ["second"],
        },
    )

    text = client.get(page(stored)).content.decode()

    assert "is not in the registry" in text
    assert 'class="mermaid"' not in text
    assert "<tr><td>first <em>(start)</em>" in text
    assert "<tr><td>first</td><td>second</td><td>always</td></tr>" in text


def test_page__unknown_ids_are_not_found() -> None:
    client = make_staff("ann")

    bad = reverse("admin:workflows_app_workflowdefinitionmodel_change", args=["nope"])
    assert client.get(bad).status_code == 404
    missing = reverse(
        "admin:workflows_app_workflowdefinitionmodel_change",
        args=["00000000-0000-0000-0000-000000000000"],
    )
    assert client.get(missing).status_code == 404
