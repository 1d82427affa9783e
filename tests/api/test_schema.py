"""The OpenAPI schema is complete, and the running API keeps to it.

The first tests read the demo's schema in process: every operation is tagged, and
declares its success answer and its error answers (``ErrorDTO``). The schemathesis test
then sends generated requests, valid and invalid, to a real uvicorn process and checks
each answer against that schema: no 5xx, declared status codes, declared content types,
bodies and headers matching their schemas.
"""

from __future__ import annotations

import copy
import functools
import json
import uuid
from typing import Any

import hypothesis
import hypothesis.strategies as st
import jsonschema_rs
import pytest
import requests
import schemathesis
from django.contrib.auth.models import Permission
from ninja.responses import NinjaJSONEncoder
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from project.api import api
from workflows_app.api import router

PREFIX = "/api/workflows"
TAGS = {"Workflow Definitions", "Workflow Instances", "Human Tasks", "Webhooks", "Messages"}
ERROR_REF = "#/components/schemas/ErrorDTO"
WEBHOOK = ("post", f"{PREFIX}/webhooks/{{callback_token}}")
# POSTs that create nothing: they answer 200 (a buffered message also 202).
MIGRATE = ("post", f"{PREFIX}/instances/migrate")
# The added POSTs that create nothing answer 200, as the migration does.
MESSAGES = ("post", f"{PREFIX}/messages")
ANSWER_200 = {
    MIGRATE,
    MESSAGES,
    *(("post", f"{PREFIX}/instances/{op}") for op in ("suspend", "resume")),
    *(("post", f"{PREFIX}/instances/{{instance_id}}/{op}") for op in ("suspend", "resume")),
    ("patch", f"{PREFIX}/tasks/{{task_id}}/comments/{{comment_id}}"),  # an edit creates nothing
}
LISTS = {("get", f"{PREFIX}/instances"), ("get", f"{PREFIX}/tasks")}
# Beyond the errors each kind of operation gives: the inbox's scope=all needs a permission.
EXTRA_ERRORS = {("get", f"{PREFIX}/tasks"): {403}}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in schema["paths"].items()
        if path.startswith(PREFIX)
        for method, operation in methods.items()
    ]


def _served(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as JSON gives it (status codes as strings)."""
    return json.loads(json.dumps(schema, cls=NinjaJSONEncoder))


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return _served(api.get_openapi_schema())


def test_schema__has_every_operation(openapi) -> None:
    routes = {
        (method.lower(), PREFIX + path)
        for path, view in router.path_operations.items()
        for operation in view.operations
        for method in operation.methods
        if operation.include_in_schema  # not the 404 and 405 answers
    }
    assert {(method, path) for method, path, _ in _operations(openapi)} == routes
    assert len(routes) >= 18
    assert WEBHOOK in routes
    assert LISTS <= routes


def test_schema__every_operation_is_tagged(openapi) -> None:
    untagged = {
        f"{method.upper()} {path}": operation.get("tags")
        for method, path, operation in _operations(openapi)
        if len(operation.get("tags", [])) != 1 or operation["tags"][0] not in TAGS
    }
    assert untagged == {}
    used = {operation["tags"][0] for _, _, operation in _operations(openapi)}
    assert used == TAGS


def _json_schema(response: dict[str, Any]) -> dict[str, Any] | None:
    return response.get("content", {}).get("application/json", {}).get("schema")


def _expected_errors(method: str, operation: dict[str, Any]) -> set[int]:
    if method == "get":
        return {401, 404, 422}
    # Every change may be refused before parsing: a body over the limit, a NUL character in
    # the query, a body that cannot be stored (even where the operation takes none).
    return {400, 401, 403, 404, 409, 413, 422}


def test_schema__every_operation_declares_its_answers(openapi) -> None:
    problems = []
    for method, path, operation in _operations(openapi):
        name = f"{method.upper()} {path}"
        responses = {int(status): response for status, response in operation["responses"].items()}
        success = 200 if method == "get" or (method, path) in ANSWER_200 else 201
        if not _json_schema(responses.get(success, {})):
            problems.append(f"{name}: no schema for {success}")
        expected = _expected_errors(method, operation) | EXTRA_ERRORS.get((method, path), set())
        if (method, path) == MESSAGES:
            expected |= {202}
        if (method, path) == WEBHOOK:
            expected -= {401, 403}
        missing = expected - set(responses)
        if missing:
            problems.append(f"{name}: no {sorted(missing)}")
        for status, response in responses.items():
            if status >= 400 and _json_schema(response) != {"$ref": ERROR_REF}:
                problems.append(f"{name}: {status} is not an ErrorDTO")
        if set(responses) - {success} - expected:
            problems.append(f"{name}: unexpected {sorted(set(responses) - {success} - expected)}")
    assert problems == []


def test_schema__every_operation_but_the_webhook_needs_authentication(openapi) -> None:
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["BearerTokenAuth"] == {"type": "http", "scheme": "bearer"}
    for method, path, operation in _operations(openapi):
        if (method, path) == WEBHOOK:
            assert "security" not in operation
            assert 401 not in {int(status) for status in operation["responses"]}
        else:
            assert {"BearerTokenAuth": []} in operation.get("security", []), (method, path)


def test_schema__request_bodies_reference_their_schemas(openapi) -> None:
    components = openapi["components"]["schemas"]
    bodies = {}
    for method, path, operation in _operations(openapi):
        if "requestBody" not in operation:
            ends = ("/instances", "/complete", "/reassign", "/send-back", "/delegate", "/resolve")
            assert method == "get" or not path.endswith(ends)
            continue
        body = operation["requestBody"]
        assert body["required"] is True, (method, path)
        assert list(body["content"]) == ["application/json"], (method, path)
        bodies[path] = body["content"]["application/json"]["schema"]
    webhook_body = bodies.pop(WEBHOOK[1])
    assert "$ref" not in webhook_body and "type" not in webhook_body  # any JSON value
    assert bodies == {
        f"{PREFIX}/instances": {"$ref": "#/components/schemas/StartWorkflowDTO"},
        f"{PREFIX}/instances/migrate": {"$ref": "#/components/schemas/MigrateDTO"},
        f"{PREFIX}/instances/suspend": {"$ref": "#/components/schemas/BulkSuspendDTO"},
        f"{PREFIX}/instances/resume": {"$ref": "#/components/schemas/BulkResumeDTO"},
        f"{PREFIX}/instances/{{instance_id}}/suspend": {"$ref": "#/components/schemas/SuspendDTO"},
        f"{PREFIX}/messages": {"$ref": "#/components/schemas/PublishMessageDTO"},
        f"{PREFIX}/tasks/{{task_id}}/complete": {"$ref": "#/components/schemas/CompleteTaskDTO"},
        f"{PREFIX}/tasks/{{task_id}}/reassign": {"$ref": "#/components/schemas/ReassignTaskDTO"},
        f"{PREFIX}/tasks/{{task_id}}/send-back": {"$ref": "#/components/schemas/SendBackDTO"},
        f"{PREFIX}/tasks/{{task_id}}/delegate": {"$ref": "#/components/schemas/DelegateTaskDTO"},
        f"{PREFIX}/tasks/{{task_id}}/resolve": {"$ref": "#/components/schemas/ResolveTaskDTO"},
        f"{PREFIX}/tasks/{{task_id}}/comments": {"$ref": "#/components/schemas/CommentDTO"},
        f"{PREFIX}/tasks/{{task_id}}/comments/{{comment_id}}": {
            "$ref": "#/components/schemas/CommentDTO"
        },
    }
    for ref in bodies.values():
        assert ref["$ref"].rsplit("/", 1)[1] in components


def test_schema__lists_declare_their_total_header(openapi) -> None:
    for method, path, operation in _operations(openapi):
        headers = operation["responses"].get("200", {}).get("headers", {})
        if (method, path) in LISTS:
            assert headers["X-Total-Count"]["schema"] == {"type": "integer"}, path
        else:
            assert "X-Total-Count" not in headers, path


def test_schema__is_valid_openapi(openapi) -> None:
    loaded = schemathesis.openapi.from_dict(openapi)
    loaded.validate()  # against the OpenAPI 3.1 meta-schema
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) == len(_operations(openapi))
    assert {operation.label for operation in operations} >= {
        f"GET {PREFIX}/tasks",
        f"POST {PREFIX}/webhooks/{{callback_token}}",
    }
    # The validation is real: without its required description, a response is refused.
    broken = copy.deepcopy(openapi)
    del broken["paths"][f"{PREFIX}/tasks"]["get"]["responses"]["200"]["description"]
    with pytest.raises(jsonschema_rs.ValidationError, match="description"):
        schemathesis.openapi.from_dict(broken).validate()


# -- what schemathesis found, each fixed --------------------------------------------------


def test_definitions__a_bad_query_is_a_declared_422(client, make_caller, openapi) -> None:
    """GET /definitions?active_only=null answered 422, which the operation did not declare."""
    caller = make_caller("reader")
    answer = client.get("/definitions?active_only=null", caller)
    assert answer.status_code == 422, answer
    assert answer.json()["errors"][0]["loc"] == ["query", "active_only"]
    declared = openapi["paths"][f"{PREFIX}/definitions"]["get"]["responses"]
    assert declared["422"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}


@pytest.mark.parametrize("path", ["/instances", "/tasks"])
def test_lists__an_offset_past_the_databases_integers_is_a_422(
    client, make_caller, openapi, path
) -> None:
    """An offset of 2**71 overflowed SQLite's integers: a 500. Offsets stop at 2**31 - 1."""
    caller = make_caller("reader")
    too_far = client.get(f"{path}?offset={2**71}", caller)
    assert too_far.status_code == 422, too_far
    assert too_far.json()["errors"][0]["loc"] == ["query", "offset"]
    assert client.get(f"{path}?offset={2**31}", caller).status_code == 422
    farthest = client.get(f"{path}?offset={2**31 - 1}", caller)
    assert farthest.status_code == 200, farthest
    assert farthest.json() == []
    parameters = openapi["paths"][PREFIX + path]["get"]["parameters"]
    offset = next(parameter for parameter in parameters if parameter["name"] == "offset")
    assert offset["schema"]["maximum"] == 2**31 - 1


@pytest.mark.parametrize(
    "path",
    [
        "/tasks?assignee_id=%00x",
        "/instances?created_by=a%00",
        "/definitions/api_review?version=%00",
        "/definitions/api_review/graph?version=1%00",
    ],
)
def test_reads__a_nul_in_the_query_is_a_422(client, make_caller, path) -> None:
    """PostgreSQL's driver refuses NUL characters in text: GET /tasks?assignee_id=%00...
    was a 500 there (and a 200 elsewhere). Every database now answers 422."""
    caller = make_caller("reader")
    answer = client.get(path, caller)
    assert answer.status_code == 422, answer
    assert answer.json()["code"] == "validation_error"
    assert answer.json()["errors"][0]["loc"][0] == "query"
    assert answer.json()["errors"][0]["type"] == "nul_character"


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        (
            "/instances",
            {"definition_name": "api_review", "correlation_id": "a\x00b"},
            ["body", "correlation_id"],
        ),
        (
            "/instances",
            {"definition_name": "api_review", "input_data": {"k": ["\x00"]}},
            ["body", "input_data", "k", 0],
        ),
        (f"/tasks/{uuid.uuid4()}/reassign", {"new_assignee": "bob\x00"}, ["body", "new_assignee"]),
        ("/webhooks/some-token", {"paid": "\x00"}, ["body", "paid"]),
    ],
)
def test_changes__a_nul_in_the_body_is_a_422_at_its_place(client, make_caller, path, body, loc):
    caller = make_caller("writer", perms=["start_workflow"])
    answer = client.post(path, caller, json=body)
    assert answer.status_code == 422, answer
    assert answer.json()["errors"] == [
        {"loc": loc, "msg": "must not contain NUL characters (\\u0000)", "type": "nul_character"}
    ]


def test_changes__an_escaped_backslash_before_u0000_is_no_nul(client, make_caller) -> None:
    caller = make_caller("writer", perms=["start_workflow"])
    answer = client.post(
        "/instances",
        caller,
        json={"definition_name": "api_review", "input_data": {"text": "\\u0000"}},
    )
    assert answer.status_code == 201, answer


@pytest.mark.parametrize("path", ["/definitions/api%00review", "/webhooks/tok%00en", "/tasks/%00"])
def test_a_nul_in_the_path_names_nothing(client, make_caller, path) -> None:
    caller = make_caller("reader")
    answer = client.post(path, caller, json={}) if "webhooks" in path else client.get(path, caller)
    assert answer.status_code == 404, answer
    # Over HTTP the path arrives decoded, with its NUL (refused, "not_found"); ninja's test
    # client leaves "%00" as it is, a name that matches nothing ("workflow_not_found", ...).
    assert answer.json()["code"].endswith("not_found")


# -- against the running API --------------------------------------------------------------


def _seed(url: str, headers: dict[str, str]) -> dict[str, list[str]]:
    """Start instances of each test workflow; return the ids and tokens they give."""
    session = requests.Session()
    session.headers.update(headers)
    instances, tokens = [], []
    for name in ["api_review"] * 3 + ["api_flaky"] + ["api_webhook"] * 2:
        answer = session.post(
            f"{url}{PREFIX}/instances", json={"definition_name": name}, timeout=30
        )
        assert answer.status_code == 201, answer.text
        instances.append(answer.json()["id"])
        if name == "api_webhook":
            detail = session.get(f"{url}{PREFIX}/instances/{instances[-1]}", timeout=30).json()
            tokens.append(detail["context_data"]["await_payment_callback_token"])
    answer = session.get(f"{url}{PREFIX}/tasks", params={"scope": "all"}, timeout=30)
    tasks = [task["id"] for task in answer.json()]
    assert len(tasks) == 3, answer.text
    # One task claimed (so that releasing it works), the others offered to the group.
    answer = session.post(f"{url}{PREFIX}/tasks/{tasks[0]}/claim", timeout=30)
    assert answer.status_code == 201, answer.text
    return {
        "instance_id": instances,
        "task_id": tasks,
        "callback_token": tokens,
        "name": ["api_review", "api_flaky", "api_webhook"],
    }


# The schema under test is the one the app builds; ``test_api_keeps_to_its_schema`` first
# checks that the server answers this same schema at /api/openapi.json. (Loading it from the
# server at import time is not possible: the server is a fixture. And
# ``schemathesis.pytest.from_fixture``, which would allow it, fails on pytest 9.2.)
live_schema = schemathesis.openapi.from_dict(_served(api.get_openapi_schema()))
live_schema.config.generation.update(
    max_examples=25, deterministic=True, database="none", with_security_parameters=False
)
live_schema.config.update(request_timeout=30)
KNOWN: dict[str, list[str]] = {}
"""Ids that exist on the server, per path parameter (filled by the ``seeded`` fixture)."""


@live_schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    """Half the time, an id that exists instead of the generated one."""
    choices = [st.just(path_parameters)]
    for name, values in KNOWN.items():
        if path_parameters and name in path_parameters and values:
            choices.append(
                st.sampled_from(values).map(functools.partial(_with, path_parameters, name))
            )
    return st.one_of(choices)


def _with(parameters: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    return {**parameters, name: value}


@live_schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """Half the time, a body that can succeed: a workflow that exists for the caller to
    start, or an answer to the review's form."""
    path = context.operation.path
    if path == f"{PREFIX}/instances" and KNOWN:
        return st.one_of(st.just(body), st.sampled_from(KNOWN["name"]).map(_start))
    if path == f"{PREFIX}/tasks/{{task_id}}/complete":
        answers = st.fixed_dictionaries(
            {"approved": st.booleans()}, optional={"score": st.integers(1, 5)}
        )
        return st.one_of(st.just(body), answers.map(lambda answer: {"output_data": answer}))
    return st.just(body)


def _start(name: str) -> dict[str, Any]:
    return {"definition_name": name, "input_data": {"from": "schemathesis"}}


@pytest.fixture
def seeded(live_server_url: str, make_caller: Any) -> dict[str, str]:
    """A user with every permission of the app, and data for it to see and change; returns
    its headers."""
    codenames = list(
        Permission.objects.filter(content_type__app_label="workflows_app").values_list(
            "codename", flat=True
        )
    )
    caller = make_caller("schemathesis", groups=["reviewers"], perms=codenames)
    served = requests.get(f"{live_server_url}/api/openapi.json", timeout=30)
    assert served.json() == _served(api.get_openapi_schema())
    KNOWN.clear()
    KNOWN.update(_seed(live_server_url, caller.headers))
    yield caller.headers
    KNOWN.clear()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@live_schema.parametrize()
# The data is seeded once per operation; its examples share it, on purpose.
@hypothesis.settings(suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
def test_api_keeps_to_its_schema(case: Any, live_server_url: str, seeded: dict[str, str]) -> None:
    case.call_and_validate(base_url=live_server_url, headers=seeded, checks=CHECKS)


def test_statuses__the_engines_own_values() -> None:
    """The API's status enums are the engine's, as lowercase strings (the model fields'
    choices and the admin's filters offer the same values)."""
    from typing import get_args

    from workflows_app.api.schemas import InstanceStatus, TaskStatus
    from workflows_app.core.types import StepStatus, WorkflowStatus
    from workflows_app.core.types import TaskStatus as TaskStatusEnum
    from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

    assert get_args(TaskStatus) == ("pending", "on_hold", "completed", "canceled")
    assert get_args(TaskStatus) == tuple(TaskStatusEnum)
    assert get_args(InstanceStatus) == tuple(WorkflowStatus)
    fields = {
        HumanTaskModel: TaskStatusEnum,
        WorkflowInstanceModel: WorkflowStatus,
        StepExecutionModel: StepStatus,
    }
    for model, enum in fields.items():
        assert [value for value, _ in model._meta.get_field("status").choices] == list(enum)
