"""``POST /messages``: publishing a message correlated by business key through the REST API,
on the three transports. The rules are the service's (the ``publish_message`` permission,
the caller's tenant); who receives it is the engine's."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error, locations, start
from workflows_app.models import MessageModel, MessageSubscriptionModel, WorkflowInstanceModel

PUBLISHER = ["start_workflow", "publish_message"]


@pytest.fixture
def publisher(make_caller):
    return make_caller("publisher", perms=PUBLISHER, tenant="acme")


def _publish(client, caller, **body):
    return client.post("/messages", caller, json={"name": "api_payment_received", **body})


def test_messages__delivered_to_the_waiting_instance(client, publisher) -> None:
    waiting = start(client, publisher, "api_message", input_data={"order_id": 1042})
    assert waiting["status"] == "waiting"

    answer = _publish(client, publisher, correlation_key="1042", payload={"amount": 12})

    assert answer.status_code == 200, answer
    assert answer.json() == {
        "outcome": "delivered",
        "instance_id": waiting["id"],
        "expires_at": None,
    }
    row = WorkflowInstanceModel.objects.get(pk=waiting["id"])
    assert row.status == "completed"
    assert row.context_data["paid"] == {"amount": 12}


def test_messages__buffered_202_then_duplicate_then_dropped(client, publisher) -> None:
    answer = _publish(client, publisher, correlation_key=7, payload=1, ttl=60, message_id="m1")
    assert answer.status_code == 202, answer
    body = answer.json()
    assert (body["outcome"], body["instance_id"]) == ("buffered", None)
    assert body["expires_at"]
    again = _publish(client, publisher, correlation_key=7, payload=1, ttl=60, message_id="m1")
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    dropped = _publish(client, publisher, correlation_key=8, payload=1)
    assert (dropped.status_code, dropped.json()["outcome"]) == (200, "dropped")
    [kept] = MessageModel.objects.all()
    assert (kept.tenant_id, kept.correlation_value, kept.status) == ("acme", "7", "buffered")
    # The instance that starts waiting for it gets it.
    started = start(client, publisher, "api_message", input_data={"order_id": "7"})
    assert started["status"] == "completed"


def test_messages__tenant_scoped(client, publisher, make_caller) -> None:
    waiting = start(client, publisher, "api_message", input_data={"order_id": "k"})
    other = make_caller("other_publisher", perms=PUBLISHER, tenant="globex")

    answer = _publish(client, other, correlation_key="k")
    assert (answer.status_code, answer.json()["outcome"]) == (200, "dropped")
    refused = _publish(client, other, correlation_key="k", tenant_id="acme")
    assert_error(refused, 403)
    assert MessageSubscriptionModel.objects.filter(instance_id=waiting["id"]).exists()
    mine = _publish(client, publisher, correlation_key="k", tenant_id="acme")
    assert mine.json()["instance_id"] == waiting["id"]


def test_messages__needs_the_permission(client, make_caller, publisher) -> None:
    waiting = start(client, publisher, "api_message", input_data={"order_id": "k"})
    starter = make_caller("starter_only", perms=["start_workflow"], tenant="acme")
    assert_error(_publish(client, starter, correlation_key="k"), 403)
    assert_error(client.post("/messages", None, json={"name": "x", "correlation_key": "k"}), 401)
    assert WorkflowInstanceModel.objects.get(pk=waiting["id"]).status == "waiting"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"correlation_key": None}, "correlation_key"),
        ({"correlation_key": 1.5}, "correlation_key"),
        ({"correlation_key": ["k"]}, "correlation_key"),
        ({"correlation_key": "k", "ttl": 0}, "ttl"),
        ({"correlation_key": "k", "ttl": -5}, "ttl"),
        ({"correlation_key": "k", "ttl": 10**12}, "ttl"),
        ({"correlation_key": "k", "ttl": "soon"}, "ttl"),
        ({"correlation_key": "k", "message_id": ""}, "message_id"),
        ({"correlation_key": "k", "surprise": 1}, "surprise"),
        ({"correlation_key": "k", "name": ""}, "name"),
        ({"correlation_key": "k", "name": "n" * 256}, "name"),
    ],
)
def test_messages__bad_input_422(client, publisher, body, where) -> None:
    waiting = start(client, publisher, "api_message", input_data={"order_id": "k"})
    found = assert_error(_publish(client, publisher, **body), 422)
    assert any(where in [str(part) for part in loc] for loc in locations(found)), found
    assert WorkflowInstanceModel.objects.get(pk=waiting["id"]).status == "waiting"
    assert not MessageModel.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "api_payment_received", "correlation_key": "k", "payload": NaN}',
        b'{"name": "api_payment_received", "correlation_key": "k", "ttl": NaN}',
        b'{"name": "api_payment_received", "correlation_key": "k", "payload": "\\u0000"}',
        b'{"name": "api_payment_received", "correlation_key": "\\u0000"}',
        b'{"name": "api_payment_received", "correlation_key": "k", "payload": '
        + b"[" * 40
        + b"]" * 40
        + b"}",
    ],
)
def test_messages__unstorable_input_422(client, publisher, raw) -> None:
    waiting = start(client, publisher, "api_message", input_data={"order_id": "k"})
    assert_error(client.post("/messages", publisher, data=raw), 422)
    assert WorkflowInstanceModel.objects.get(pk=waiting["id"]).status == "waiting"
