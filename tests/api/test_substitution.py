"""Substitution through the REST API, on every transport: while maria is away, olga's inbox
(``scope=offered`` and ``scope=substituting``) lists maria's tasks, and olga completes one
for her (``completed_by`` olga, ``completed_on_behalf_of`` maria); outside the dates, or
from another tenant, the task is not found."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.api.helpers import assert_error, start
from workflows_app.models import HumanTaskModel, Substitution

HOUR = timedelta(hours=1)


@pytest.fixture
def people(make_caller) -> dict[str, Any]:
    return {
        "maria": make_caller("maria", perms=["start_workflow"], tenant="acme"),
        "olga": make_caller("olga", tenant="acme"),
        "eve": make_caller("eve", tenant="other"),
    }


def signing(client: Any, people: dict[str, Any]) -> HumanTaskModel:
    instance = start(client, people["maria"], "api_assigned", input_data={"signer": "maria"})
    return HumanTaskModel.objects.get(instance_id=instance["id"])


def away(substitute: str, start: timedelta, end: timedelta) -> None:
    now = timezone.now()
    Substitution.objects.create(
        user="maria", substitute=substitute, starts_at=now + start, ends_at=now + end
    )


def listed(client: Any, caller: Any, scope: str = "offered") -> list[str]:
    answer = client.get(f"/tasks?scope={scope}", caller)
    assert answer.status_code == 200, answer
    return [row["id"] for row in answer.json()]


def test_the_substitute_lists_and_completes(client, people) -> None:
    task = signing(client, people)
    assert str(task.pk) not in listed(client, people["olga"])
    away("olga", -HOUR, HOUR)
    assert str(task.pk) in listed(client, people["olga"])
    assert listed(client, people["olga"], "substituting") == [str(task.pk)]
    assert listed(client, people["maria"], "substituting") == []

    done = client.post(f"/tasks/{task.pk}/complete", people["olga"], json={"output_data": {}})
    assert done.status_code == 201, done
    shown = client.get(f"/tasks/{task.pk}", people["olga"])
    assert shown.status_code == 200, shown
    body = shown.json()
    assert (body["completed_by"], body["completed_on_behalf_of"]) == ("olga", "maria")
    assert body["activity"][-1]["on_behalf_of"] == "maria"


@pytest.mark.parametrize(("start_at", "end_at"), [(HOUR, 2 * HOUR), (-2 * HOUR, -HOUR)])
def test_outside_the_dates_not_found(client, people, start_at, end_at) -> None:
    task = signing(client, people)
    away("olga", start_at, end_at)
    assert listed(client, people["olga"]) == []
    answer = client.post(f"/tasks/{task.pk}/complete", people["olga"], json={"output_data": {}})
    assert_error(answer, 404, "task_not_found")
    task.refresh_from_db()
    assert task.status == "pending"


def test_another_tenant_substitute_sees_nothing(client, people) -> None:
    task = signing(client, people)
    away("eve", -HOUR, HOUR)
    assert listed(client, people["eve"]) == []
    answer = client.post(f"/tasks/{task.pk}/complete", people["eve"], json={"output_data": {}})
    assert_error(answer, 404, "task_not_found")
