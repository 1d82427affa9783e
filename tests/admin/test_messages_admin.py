"""The admin's read-only lists of messages: the branches waiting for a message and the
buffered (or remembered) messages, scoped to what the user's actor sees and its tenant."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.admin.console_support import OPERATOR_PERMS, make_staff, start
from tests.api import workflows
from workflows_app.core.registry import default_registry
from workflows_app.services import get_service

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = reverse("admin:workflows_app_messagesubscriptionmodel_changelist")
MESSAGES = reverse("admin:workflows_app_messagemodel_changelist")


@pytest.fixture(autouse=True, scope="module")
def _api_workflows() -> None:
    default_registry.register_module(workflows)


def listed(client, url: str) -> list:
    response = client.get(url)
    assert response.status_code == 200, response
    return list(response.context["cl"].result_list)


def test_subscriptions__listed_in_the_users_tenant_only() -> None:
    ours = start("api_message", {"order_id": "k1"}, tenant="acme")
    start("api_message", {"order_id": "k2"}, tenant="globex")
    operator = make_staff("op_acme", perms=OPERATOR_PERMS, tenant="acme")

    rows = listed(operator, SUBSCRIPTIONS)

    assert [(row.instance_id, row.correlation_value) for row in rows] == [(ours.pk, "k1")]
    page = operator.get(SUBSCRIPTIONS).content.decode()
    assert "api_payment_received" in page
    assert "Waiting for messages" in page


def test_subscriptions__a_user_without_view_permission_sees_those_of_its_instances() -> None:
    mine = start("api_message", {"order_id": "k1"}, tenant="acme", by="ann")
    start("api_message", {"order_id": "k2"}, tenant="acme", by="bob")
    ann = make_staff("ann", tenant="acme")
    assert [row.instance_id for row in listed(ann, SUBSCRIPTIONS)] == [mine.pk]


def test_messages__buffered_listed_for_publishers_of_the_tenant() -> None:
    engine = get_service().engine
    engine.publish_message_sync("m", "k", {"a": 1}, ttl=60, tenant_id="acme")
    engine.publish_message_sync("m", "k", {"a": 2}, ttl=60, tenant_id="globex")
    publisher = make_staff("pub_acme", perms=("publish_message",), tenant="acme")
    onlooker = make_staff("look_acme", perms=OPERATOR_PERMS, tenant="acme")

    [row] = listed(publisher, MESSAGES)
    assert (row.tenant_id, row.status, row.payload) == ("acme", "buffered", {"a": 1})
    assert listed(onlooker, MESSAGES) == []
    detail = publisher.get(reverse("admin:workflows_app_messagemodel_change", args=[row.pk]))
    assert detail.status_code == 200
    other = listed(make_staff("pub_globex", perms=("publish_message",), tenant="globex"), MESSAGES)
    assert [row.payload for row in other] == [{"a": 2}]


def test_messages__read_only() -> None:
    engine = get_service().engine
    engine.publish_message_sync("m", "k", {}, ttl=60, tenant_id="acme")
    admin = make_staff("root", superuser=True, tenant="acme")
    [row] = listed(admin, MESSAGES)
    assert admin.get(reverse("admin:workflows_app_messagemodel_add")).status_code == 403
    url = reverse("admin:workflows_app_messagemodel_delete", args=[row.pk])
    assert admin.post(url, {"post": "yes"}).status_code == 403


def test_lists__show_no_other_tenants_names_in_rows_or_filters() -> None:
    start("api_message", {"order_id": "k2"}, tenant="globex")
    get_service().engine.publish_message_sync("secret_name", "k", {}, ttl=60, tenant_id="globex")
    admin = make_staff("root_acme", superuser=True, tenant="acme")
    for url in (SUBSCRIPTIONS, MESSAGES):
        page = admin.get(url).content.decode()
        assert "secret_name" not in page and "api_payment_received" not in page, url
