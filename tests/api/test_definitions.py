"""GET /definitions, /definitions/{name} and /definitions/{name}/graph (upstream §4.1, §4.3)."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error, locations

REVIEW = {
    "name": "api_review",
    "version": "1.0.0",
    "description": "A machine step, a group task with a form, then one of two ends.",
    "steps": ["prepare", "review", "publish", "archive"],
    "edges": [
        {"source": "prepare", "target": "review", "condition": None},
        {"source": "review", "target": "publish", "condition": "approved"},
        {"source": "review", "target": "archive", "condition": "not approved"},
    ],
    "initial_step": "prepare",
    "terminal_steps": ["archive", "publish"],
}

REVIEW_NODES = [
    {
        "id": "prepare",
        "label": "Prepare",
        "type": "machine",
        "is_initial": True,
        "is_terminal": False,
    },
    {"id": "review", "label": "Review", "type": "human", "is_initial": False, "is_terminal": False},
    {
        "id": "publish",
        "label": "Publish",
        "type": "machine",
        "is_initial": False,
        "is_terminal": True,
    },
    {
        "id": "archive",
        "label": "Archive",
        "type": "machine",
        "is_initial": False,
        "is_terminal": True,
    },
]
REVIEW_GRAPH_EDGES = [
    {"source": "prepare", "target": "review"},  # no condition: no "condition" key
    {"source": "review", "target": "publish", "condition": "approved"},
    {"source": "review", "target": "archive", "condition": "not approved"},
]


@pytest.fixture
def reader(make_caller):
    return make_caller("reader")


def test_list_definitions__latest_version_of_each_name(client, reader) -> None:
    answer = client.get("/definitions", reader)
    assert answer.status_code == 200, answer
    listed = answer.json()
    names = [definition["name"] for definition in listed]
    assert len(names) == len(set(names))
    by_name = {definition["name"]: definition for definition in listed}
    assert by_name["api_review"] == REVIEW
    assert by_name["api_versioned"]["version"] == "2.0.0"
    assert by_name["api_versioned"]["steps"] == ["draft", "polish"]
    assert {"api_assigned", "api_flaky", "api_webhook"} <= set(by_name)


def test_list_definitions__active_only_false_lists_every_version(client, reader) -> None:
    answer = client.get("/definitions?active_only=false", reader)
    assert answer.status_code == 200, answer
    versions = [d["version"] for d in answer.json() if d["name"] == "api_versioned"]
    assert versions == ["1.0.0", "2.0.0"]
    assert [d["version"] for d in answer.json() if d["name"] == "api_review"] == ["1.0.0"]


def test_get_definition__latest_or_the_version_asked(client, reader) -> None:
    latest = client.get("/definitions/api_versioned", reader)
    assert latest.status_code == 200, latest
    assert latest.json()["version"] == "2.0.0"
    assert latest.json()["terminal_steps"] == ["polish"]
    first = client.get("/definitions/api_versioned?version=1.0.0", reader)
    assert first.status_code == 200, first
    assert first.json()["version"] == "1.0.0"
    assert first.json()["steps"] == ["draft"]
    assert first.json()["edges"] == []
    assert client.get("/definitions/api_review", reader).json() == REVIEW


def test_get_definition__unknown_name_or_version_is_404(client, reader) -> None:
    body = assert_error(client.get("/definitions/nope", reader), 404, "workflow_not_found")
    assert "nope" in body["detail"]
    assert body["errors"] == []
    body = assert_error(
        client.get("/definitions/api_review?version=9.9.9", reader), 404, "workflow_not_found"
    )
    assert "9.9.9" in body["detail"]
    for path in ("/definitions/nope/graph", "/definitions/api_review/graph?version=0.1"):
        assert_error(client.get(path, reader), 404, "workflow_not_found")


def test_definition_graph__mermaid_by_default(client, reader) -> None:
    answer = client.get("/definitions/api_review/graph", reader)
    assert answer.status_code == 200, answer
    graph = answer.json()
    assert set(graph) == {"mermaid_source", "nodes", "edges"}
    lines = graph["mermaid_source"].splitlines()
    assert lines[0] == "graph TD"
    assert "    prepare[START: Prepare]" in lines
    assert "    review{{Review}}" in lines
    assert "    prepare --> review" in lines
    assert "    review -->|approved| publish" in lines
    assert "style" not in graph["mermaid_source"]  # a definition has no state
    assert graph["nodes"] == REVIEW_NODES
    assert graph["edges"] == REVIEW_GRAPH_EDGES
    explicit = client.get("/definitions/api_review/graph?graph_format=mermaid", reader)
    assert explicit.json() == graph


def test_definition_graph__json_has_nodes_and_edges_only(client, reader) -> None:
    answer = client.get("/definitions/api_review/graph?graph_format=json", reader)
    assert answer.status_code == 200, answer
    assert answer.json() == {
        "mermaid_source": "",
        "nodes": REVIEW_NODES,
        "edges": REVIEW_GRAPH_EDGES,
    }
    old = client.get("/definitions/api_versioned/graph?graph_format=json&version=1.0.0", reader)
    assert old.json()["nodes"] == [
        {
            "id": "draft",
            "label": "Draft",
            "type": "machine",
            "is_initial": True,
            "is_terminal": True,
        }
    ]


def test_definition_graph__unknown_format_is_422(client, reader) -> None:
    # Upstream answers 404 "Unknown format"; ours validates the query parameter instead.
    body = assert_error(
        client.get("/definitions/api_review/graph?graph_format=svg", reader),
        422,
        "validation_error",
    )
    assert locations(body) == [["query", "graph_format"]]


def test_definitions__need_authentication(client) -> None:
    answer = client.get("/definitions")
    assert_error(answer, 401, "unauthenticated")
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    bad = client.get("/definitions", headers={"Authorization": "Bearer not-a-token"})
    assert_error(bad, 401, "unauthenticated")
