"""Moving instances to another version from the admin: the list's action, a definition's
link, the preview page and its confirmation, through the Django test client as staff
users, on the real engine.

The workflow is ``mig_doc`` (``tests/admin/migrate_workflows.py``): 1.0.0 waits at the
human step ``review``; 2.0.0 calls it ``check`` and adds ``stamp`` before ``publish``, so
waiting instances move with the mapping review -> check.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from tests.admin import migrate_workflows
from tests.admin.console_support import OPERATOR_PERMS, make_staff, messages_of, start
from tests.users import make_user
from workflows_app.core.registry import default_registry
from workflows_app.models import HumanTaskModel, WorkflowDefinitionModel, WorkflowInstanceModel
from workflows_app.services import get_service

pytestmark = pytest.mark.django_db

LIST = reverse("admin:workflows_app_workflowinstancemodel_changelist")
PAGE = reverse("admin:workflows_app_workflowinstancemodel_migrate")
MIGRATOR_PERMS = (*OPERATOR_PERMS, "migrate_workflowinstance")


@pytest.fixture(autouse=True, scope="module")
def _two_versions():
    default_registry.register_module(migrate_workflows)
    yield
    default_registry.unregister("mig_doc")


@pytest.fixture
def migrator() -> Client:
    return make_staff("mona", perms=MIGRATOR_PERMS, tenant="acme")


def waiting(count: int = 1, *, tenant: str = "acme") -> list[WorkflowInstanceModel]:
    """``count`` instances of mig_doc 1.0.0 waiting at ``review``."""
    return [start("mig_doc", tenant=tenant, version="1.0.0") for _ in range(count)]


def versions() -> list[tuple[str, str]]:
    return list(
        WorkflowInstanceModel.objects.order_by("started_at").values_list("pk", "workflow_version")
    )


def select(client: Client, action: str, *instances: WorkflowInstanceModel):
    return client.post(
        LIST,
        {"action": action, "index": 0, "_selected_action": [str(row.pk) for row in instances]},
    )


def preview_url(instances: list[WorkflowInstanceModel] | None = None, **more: str) -> str:
    query = {"workflow": "mig_doc", "version": "1.0.0", **more}
    if instances is not None:
        query["ids"] = ",".join(str(row.pk) for row in instances)
    return PAGE + "?" + "&".join(f"{key}={value}" for key, value in query.items())


def confirm(instances: list[WorkflowInstanceModel] | None = None, **mapping: str) -> dict:
    posted = {"workflow": "mig_doc", "version": "1.0.0", "to": "2.0.0"}
    if instances is not None:
        posted["ids"] = ",".join(str(row.pk) for row in instances)
    return {**posted, **{f"map-{step}": to for step, to in mapping.items()}}


def test_migrate__without_the_permission_no_action_no_link_and_403() -> None:
    operator = make_staff("otto", perms=OPERATOR_PERMS, tenant="acme")
    [instance] = waiting()
    get_service().engine.sync_definitions()
    definition = WorkflowDefinitionModel.objects.get(name="mig_doc", version="1.0.0")

    listing = operator.get(LIST)
    actions = [name for name, _label in listing.context["action_form"].fields["action"].choices]
    assert "migrate_instances" not in actions
    definition_page = reverse(
        "admin:workflows_app_workflowdefinitionmodel_change", args=[definition.pk]
    )
    assert b"wf-migrate-link" not in operator.get(definition_page).content
    assert operator.get(preview_url([instance])).status_code == 403
    assert operator.post(PAGE, confirm([instance], review="check")).status_code == 403
    refused = select(operator, "migrate_instances", instance)  # not an action of theirs
    assert (refused.status_code, refused["Location"]) == (302, LIST)
    assert versions() == [(instance.pk, "1.0.0")]


def test_migrate__the_action_opens_the_preview_of_the_selected_instances(migrator) -> None:
    first, second = waiting(2)

    answer = select(migrator, "migrate_instances", second, first)

    assert answer.status_code == 302
    url = urlsplit(answer["Location"])
    assert url.path == PAGE
    assert parse_qs(url.query) == {
        "workflow": ["mig_doc"],
        "version": ["1.0.0"],
        "ids": [f"{first.pk},{second.pk}"],
    }


def test_migrate__the_action_refuses_instances_of_different_versions(migrator) -> None:
    [old] = waiting()
    new = start("mig_doc", tenant="acme")  # the latest: 2.0.0

    answer = select(migrator, "migrate_instances", old, new)

    assert answer.status_code == 302 and answer["Location"] == LIST
    listing = migrator.get(LIST)
    assert messages_of(listing) == [
        "Select instances that run one version of one workflow to move them; "
        "these run mig_doc 1.0.0, mig_doc 2.0.0."
    ]


def test_migrate__the_preview_shows_the_diff_the_counts_and_the_reasons(migrator) -> None:
    movable = waiting(2)
    canceled = waiting()[0]
    get_service().engine.cancel_workflow_sync(canceled.pk, "not needed")
    elsewhere = waiting(tenant="globex")[0]
    before = versions()

    response = migrator.get(preview_url([*movable, canceled, elsewhere], **{"map-review": "check"}))

    assert response.status_code == 200
    html = response.content.decode()
    preview = response.context["preview"]
    assert preview.problems == []
    assert response.context["targets"] == ["2.0.0"]
    diff = response.context["diff"]
    assert diff.steps_added == ["stamp"]
    assert diff.steps_renamed == [("review", "check")]
    assert diff.steps_changed == [("check", "form_schema")]
    assert diff.edges_added == [("check", "stamp"), ("stamp", "publish")]
    assert diff.edges_removed == [("check", "publish")]
    assert "<dt>Steps renamed</dt><dd>review &rarr; check</dd>" in html
    assert "Instances: 2 can move, 2 cannot" in html
    assert "no: it is canceled" in html
    assert "no: no such instance" in html  # another tenant's instance
    change = reverse("admin:workflows_app_workflowinstancemodel_change", args=[movable[0].pk])
    assert f'<a href="{change}"><code>{str(movable[0].pk)[:8]}</code></a>' in html
    # The mapping's select offers the human steps of 2.0.0, the chosen one selected.
    assert '<option value="check" selected>check</option>' in html
    assert '<option value="stamp"' not in html.split('id="id_map-review"')[1].split("</select>")[0]
    assert 'value="Move 2 instances to 2.0.0"' in html
    assert versions() == before  # a preview writes nothing


def test_migrate__the_preview_lists_the_first_instances_and_counts_the_rest(
    migrator, monkeypatch
) -> None:
    from workflows_app.admin import migrate

    monkeypatch.setattr(migrate, "SHOWN", 2)
    waiting(3)

    response = migrator.get(preview_url(**{"map-review": "check"}))  # all of 1.0.0

    assert len(response.context["checks"]) == 2
    assert '<p class="wf-note" id="wf-migrate-more">and 1 more</p>' in response.content.decode()


def test_migrate__confirm_moves_the_instances_and_writes_the_audit_record(migrator) -> None:
    first, second = waiting(2)
    canceled = waiting()[0]
    get_service().engine.cancel_workflow_sync(canceled.pk, "not needed")

    answer = migrator.post(PAGE, confirm([first, second, canceled], review="check"))

    assert answer.status_code == 302
    assert answer["Location"] == f"{LIST}?workflow=mig_doc"
    assert messages_of(migrator.get(answer["Location"])) == [
        "Moved 2 instances to mig_doc 2.0.0; skipped 1.",
        f"Skipped: {str(canceled.pk)[:8]}: it is canceled",
    ]
    for instance in (first, second):
        row = WorkflowInstanceModel.objects.get(pk=instance.pk)
        assert (row.workflow_version, row.current_step) == ("2.0.0", "check")
        [record] = row.metadata["migrations"]
        assert (record["by"], record["from_version"], record["to_version"]) == (
            "mona",
            "1.0.0",
            "2.0.0",
        )
        assert record["mapping"] == {"review": "check"}
        task = HumanTaskModel.objects.get(instance_id=row.pk, status="pending")
        assert (task.step_name, task.title) == ("check", "Check the document")
    assert WorkflowInstanceModel.objects.get(pk=canceled.pk).workflow_version == "1.0.0"


def test_migrate__a_plan_with_problems_shows_them_and_moves_nothing(migrator) -> None:
    instances = waiting(2)
    before = versions()

    response = migrator.get(preview_url(instances))  # review is not mapped

    html = response.content.decode()
    problem = "step 'review' (human) is not in version 2.0.0: map it to a step of that version"
    assert response.context["preview"].problems == [problem]
    assert "Problems: nothing can move with this plan" in html
    assert 'id="wf-migrate-confirm"' not in html
    # Posted anyway: the service refuses the plan, and the page says why.
    answer = migrator.post(PAGE, confirm(instances))
    assert answer.status_code == 302
    again = migrator.get(answer["Location"])
    assert messages_of(again) == [f"Nothing moved: {problem}"]
    assert again.context["preview"].problems == [problem]
    # A human step mapped onto a machine step is a problem too.
    refused = migrator.post(PAGE, confirm(instances, review="stamp"))
    assert (
        "cannot move onto 'stamp', a machine step"
        in messages_of(migrator.get(refused["Location"]))[0]
    )
    assert versions() == before


def test_migrate__moving_needs_a_post_with_the_csrf_token(migrator) -> None:
    instances = waiting(1)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user("mila", perms=MIGRATOR_PERMS, tenant="acme", staff=True))
    posted = confirm(instances, review="check")

    # A GET with every field of the confirmation only previews.
    assert migrator.get(PAGE, posted).status_code == 200
    # A POST without the token is refused before the view.
    assert strict.post(PAGE, posted).status_code == 403
    assert versions() == [(instances[0].pk, "1.0.0")]


def test_migrate__a_definition_links_to_moving_all_its_live_instances(migrator) -> None:
    instances = waiting(2)
    get_service().engine.sync_definitions()
    definition = WorkflowDefinitionModel.objects.get(name="mig_doc", version="1.0.0")

    html = migrator.get(
        reverse("admin:workflows_app_workflowdefinitionmodel_change", args=[definition.pk])
    ).content.decode()

    link = f'<a href="{PAGE}?workflow=mig_doc&amp;version=1.0.0" id="wf-migrate-link">'
    assert link in html
    response = migrator.get(f"{PAGE}?workflow=mig_doc&version=1.0.0&map-review=check")
    assert {check.instance_id for check, _row in response.context["checks"]} == {
        row.pk for row in instances
    }
    answer = migrator.post(PAGE, confirm(review="check"))
    assert answer.status_code == 302
    assert {version for _pk, version in versions()} == {"2.0.0"}


def test_migrate__a_workflow_with_one_version_has_nowhere_to_go(migrator) -> None:
    from tests.api import workflows

    default_registry.register_module(workflows)

    response = migrator.get(f"{PAGE}?workflow=api_review&version=1.0.0")

    assert response.status_code == 200
    assert 'id="wf-migrate-none"' in response.content.decode()
    assert migrator.get(f"{PAGE}?workflow=nope&version=1.0.0").status_code == 404
