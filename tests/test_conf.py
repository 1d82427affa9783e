"""workflows_app.conf and the checks of the WORKFLOWS setting."""

from __future__ import annotations

import dataclasses

import pytest
from django.core import checks as django_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from workflows_app import checks as workflows_checks
from workflows_app import conf


@override_settings(WORKFLOWS={})
def test_get_settings__defaults() -> None:
    assert conf.get_settings() == conf.WorkflowsSettings(
        EXECUTION_MODE="inline",
        DISPATCH="worker",
        LISTEN_NOTIFY=True,
        USER_ID_FIELD="username",
        AUTODISCOVER=True,
        LEASE_SECONDS=60.0,
        MAX_DRIVE_ATTEMPTS=3,
        REMINDER_EMAILS=True,
        TASK_EMAILS=False,
        ACTION_LINKS=False,
        ACTION_LINK_MAX_AGE=7 * 24 * 3600.0,
        ACTION_LINKS_ANONYMOUS=False,
        ACTION_LINKS_BASE_URL="",
        CHECKPOINT_INTERVAL=1.0,
        TENANT_RESOLVER=None,
        API_AUTH=(
            "workflows_app.api.auth.token_auth",
            "workflows_app.api.auth.session_auth",
        ),
        API_TOKEN_MAX_AGE=30 * 24 * 3600.0,
        API_TOKEN_CACHE_SECONDS=0.0,
        API_MAX_BODY_BYTES=1024 * 1024,
        JSON_MAX_DEPTH=31,
        COMMENT_EDIT_SECONDS=300.0,
        MERMAID_URL=None,
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"TENANT_RESOLVER": 3}, "TENANT_RESOLVER'] must be a callable or its dotted path"),
        ({"API_AUTH": "workflows_app.api.auth.token_auth"}, "API_AUTH'] must be a list"),
        ({"API_TOKEN_MAX_AGE": 0}, "API_TOKEN_MAX_AGE'] must be a number above 0"),
        ({"API_MAX_BODY_BYTES": True}, "API_MAX_BODY_BYTES'] must be a number above 0"),
        ({"API_TOKEN_CACHE_SECONDS": -1}, "API_TOKEN_CACHE_SECONDS'] must be a number of seconds"),
        ({"API_TOKEN_CACHE_SECONDS": "5"}, "API_TOKEN_CACHE_SECONDS'] must be a number of seconds"),
        ({"JSON_MAX_DEPTH": 1}, "JSON_MAX_DEPTH'] must be a whole number from 2 to 500"),
        ({"JSON_MAX_DEPTH": 64.0}, "JSON_MAX_DEPTH'] must be a whole number from 2 to 500"),
        ({"JSON_MAX_DEPTH": True}, "JSON_MAX_DEPTH'] must be a whole number from 2 to 500"),
        ({"MERMAID_URL": 11}, "MERMAID_URL'] must be None or a non-empty URL"),
        ({"MERMAID_URL": "  "}, "MERMAID_URL'] must be None or a non-empty URL"),
        ({"ACTION_LINKS": "yes"}, "ACTION_LINKS'] must be True or False"),
        ({"ACTION_LINK_MAX_AGE": 0}, "ACTION_LINK_MAX_AGE'] must be a number of seconds above 0"),
        ({"ACTION_LINKS_BASE_URL": "flows.example.com"}, "must be '' or a URL starting with"),
    ],
)
def test_invalid_values__api_settings(raw, message) -> None:
    [problem] = conf.invalid_values(raw)
    assert message in problem


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"DISPATCH": "redis"}, "DISPATCH'] must be 'worker', 'celery' or the dotted path"),
        ({"DISPATCH": "mysite..Dispatcher"}, "DISPATCH'] must be 'worker', 'celery' or the"),
        ({"DISPATCH": None}, "DISPATCH'] must be 'worker', 'celery' or the dotted path"),
        ({"LISTEN_NOTIFY": "no"}, "LISTEN_NOTIFY'] must be True or False"),
    ],
)
def test_invalid_values__dispatch(raw, message) -> None:
    [problem] = conf.invalid_values(raw)
    assert message in problem


@pytest.mark.parametrize("value", ["worker", "celery", "mysite.dispatch.MyDispatcher"])
def test_invalid_values__dispatch_accepts_names_and_dotted_paths(value) -> None:
    assert conf.invalid_values({"DISPATCH": value, "LISTEN_NOTIFY": False}) == []


class NotADispatcher:
    pass


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("tests.nowhere.Dispatcher", "No module named 'tests.nowhere'"),
        ("tests.test_conf.NotADispatcher", "is not a subclass of Dispatcher"),
    ],
)
def test_check_dispatch__a_dispatcher_that_cannot_be_used(name, message) -> None:
    with override_settings(WORKFLOWS={"DISPATCH": name}):
        [error] = workflows_checks.check_dispatch()
    assert error.id == "workflows_app.E003"
    assert message in error.msg


@pytest.mark.parametrize("name", ["worker", "celery", "workflows_app.engine.dispatch.Dispatcher"])
def test_check_dispatch__valid(name) -> None:
    with override_settings(WORKFLOWS={"DISPATCH": name}):
        assert workflows_checks.check_dispatch() == []


def test_get_settings__frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        conf.get_settings().EXECUTION_MODE = "worker"  # type: ignore[misc]


def test_get_settings__follows_override_settings() -> None:
    before = conf.get_settings()

    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker", "USER_ID_FIELD": "email"}):
        inside = conf.get_settings()

    assert inside.EXECUTION_MODE == "worker"
    assert inside.USER_ID_FIELD == "email"
    assert inside.AUTODISCOVER is True
    assert conf.get_settings() == before


def test_get_settings__invalid_value() -> None:
    with (
        override_settings(WORKFLOWS={"EXECUTION_MODE": "background"}),
        pytest.raises(
            ImproperlyConfigured,
            match=r"EXECUTION_MODE.*'inline', 'worker'.*'background'",
        ),
    ):
        conf.get_settings()


def test_check_settings__valid() -> None:
    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker", "AUTODISCOVER": False}):
        assert workflows_checks.check_settings() == []


def test_check_settings__unknown_key_with_close_match() -> None:
    with override_settings(WORKFLOWS={"EXECUTION_MOD": "inline"}):
        [error] = workflows_checks.check_settings()

    assert error.id == "workflows_app.E001"
    assert "'EXECUTION_MOD'" in error.msg
    assert error.hint == "Did you mean 'EXECUTION_MODE'?"


def test_check_settings__unknown_key_without_close_match() -> None:
    with override_settings(WORKFLOWS={"COLOUR": "blue"}):
        [error] = workflows_checks.check_settings()

    assert error.id == "workflows_app.E001"
    assert (
        error.hint == "Known keys: EXECUTION_MODE, DISPATCH, LISTEN_NOTIFY, USER_ID_FIELD, "
        "AUTODISCOVER, LEASE_SECONDS, MAX_DRIVE_ATTEMPTS, REMINDER_EMAILS, TASK_EMAILS, "
        "ACTION_LINKS, ACTION_LINK_MAX_AGE, ACTION_LINKS_ANONYMOUS, ACTION_LINKS_BASE_URL, "
        "CHECKPOINT_INTERVAL, "
        "TENANT_RESOLVER, API_AUTH, API_TOKEN_MAX_AGE, API_TOKEN_CACHE_SECONDS, "
        "API_MAX_BODY_BYTES, JSON_MAX_DEPTH, COMMENT_EDIT_SECONDS, MERMAID_URL."
    )


def test_check_settings__invalid_values() -> None:
    with override_settings(
        WORKFLOWS={
            "EXECUTION_MODE": "later",
            "USER_ID_FIELD": "",
            "AUTODISCOVER": "yes",
            "CHECKPOINT_INTERVAL": -1,
        }
    ):
        errors = workflows_checks.check_settings()

    assert [error.id for error in errors] == ["workflows_app.E002"] * 4
    assert "EXECUTION_MODE" in errors[0].msg
    assert "USER_ID_FIELD" in errors[1].msg
    assert "AUTODISCOVER" in errors[2].msg
    assert "CHECKPOINT_INTERVAL" in errors[3].msg


@pytest.mark.parametrize("value", [0, -1, 2.5, "3", True, None])
def test_check_settings__max_drive_attempts_must_be_a_whole_number(value) -> None:
    with override_settings(WORKFLOWS={"MAX_DRIVE_ATTEMPTS": value}):
        [error] = workflows_checks.check_settings()

    assert error.id == "workflows_app.E002"
    assert f"MAX_DRIVE_ATTEMPTS'] must be a whole number, 1 or more, not {value!r}" in error.msg


def test_get_settings__max_drive_attempts() -> None:
    with override_settings(WORKFLOWS={"MAX_DRIVE_ATTEMPTS": 1}):
        assert conf.get_settings().MAX_DRIVE_ATTEMPTS == 1


def test_check_settings__not_a_dict() -> None:
    with override_settings(WORKFLOWS=["EXECUTION_MODE"]):
        [error] = workflows_checks.check_settings()

    assert error.id == "workflows_app.E002"
    assert "must be a dict, not list" in error.msg


def test_check_settings__registered_with_django() -> None:
    with override_settings(WORKFLOWS={"EXECUTION_MOD": "inline"}):
        # databases=[]: the settings check needs none (Django 6 checks every alias by default).
        ids = [message.id for message in django_checks.run_checks(databases=[])]

    assert "workflows_app.E001" in ids


@pytest.mark.django_db
def test_check_worker_database__warns_without_skip_locked() -> None:
    from django.db import connection

    with override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"}):
        messages = workflows_checks.check_worker_database(databases=["default"])
    with override_settings(WORKFLOWS={"EXECUTION_MODE": "inline"}):
        assert workflows_checks.check_worker_database(databases=["default"]) == []
    if connection.features.has_select_for_update_skip_locked:
        assert messages == []
    else:
        [warning] = messages
        assert warning.id == "workflows_app.W001"
        assert "SKIP LOCKED" in warning.msg


# -- settings from the environment ---------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "text", "key", "value"),
    [
        ("WORKFLOWS_EXECUTION_MODE", "worker", "EXECUTION_MODE", "worker"),
        ("WORKFLOWS_DISPATCH", "mysite.dispatch.Mine", "DISPATCH", "mysite.dispatch.Mine"),
        ("WORKFLOWS_LEASE_SECONDS", "30", "LEASE_SECONDS", 30.0),
        ("WORKFLOWS_CHECKPOINT_INTERVAL", " 0.25 ", "CHECKPOINT_INTERVAL", 0.25),
        ("WORKFLOWS_API_TOKEN_CACHE_SECONDS", "5", "API_TOKEN_CACHE_SECONDS", 5.0),
        ("WORKFLOWS_API_MAX_BODY_BYTES", "2097152", "API_MAX_BODY_BYTES", 2097152),
        ("WORKFLOWS_LISTEN_NOTIFY", "off", "LISTEN_NOTIFY", False),
        ("WORKFLOWS_AUTODISCOVER", "No", "AUTODISCOVER", False),
        ("WORKFLOWS_REMINDER_EMAILS", "TRUE", "REMINDER_EMAILS", True),
        ("WORKFLOWS_REMINDER_EMAILS", "1", "REMINDER_EMAILS", True),
        ("WORKFLOWS_TENANT_RESOLVER", "mysite.tenancy.of", "TENANT_RESOLVER", "mysite.tenancy.of"),
        ("WORKFLOWS_API_AUTH", "a.b, c.d,", "API_AUTH", ("a.b", "c.d")),
        ("WORKFLOWS_MERMAID_URL", "/static/mermaid.mjs", "MERMAID_URL", "/static/mermaid.mjs"),
    ],
)
def test_settings_from_env__types_each_key(variable, text, key, value) -> None:
    found = conf.settings_from_env(environ={variable: text})

    assert found == {key: value}
    assert type(found[key]) is type(value)
    assert conf.invalid_values(found) == []


def test_settings_from_env__reads_every_key() -> None:
    environ = {f"WORKFLOWS_{key}": "x" for key in conf.WorkflowsSettings.keys()}

    assert set(conf.settings_from_env(environ=environ)) == set(conf.WorkflowsSettings.keys())


def test_settings_from_env__empty_or_absent_is_unset__other_variables_ignored() -> None:
    environ = {"WORKFLOWS_LEASE_SECONDS": "  ", "WORKFLOWS": "x", "LEASE_SECONDS": "3"}

    assert conf.settings_from_env(environ=environ) == {}


def test_settings_from_env__another_prefix() -> None:
    environ = {"FLOWS_EXECUTION_MODE": "worker", "WORKFLOWS_LEASE_SECONDS": "3"}

    assert conf.settings_from_env("FLOWS_", environ) == {"EXECUTION_MODE": "worker"}


@pytest.mark.parametrize(
    ("variable", "text", "message"),
    [
        ("WORKFLOWS_LEASE_SECONDS", "soon", "LEASE_SECONDS'] must be a number of seconds above 0"),
        ("WORKFLOWS_LEASE_SECONDS", "-5", "LEASE_SECONDS'] must be a number of seconds above 0"),
        ("WORKFLOWS_LEASE_SECONDS", "inf", "LEASE_SECONDS'] must be a number of seconds above 0"),
        ("WORKFLOWS_CHECKPOINT_INTERVAL", "nan", "CHECKPOINT_INTERVAL'] must be a number"),
        ("WORKFLOWS_API_MAX_BODY_BYTES", "1.5", "API_MAX_BODY_BYTES'] must be a number above 0"),
        ("WORKFLOWS_LISTEN_NOTIFY", "maybe", "LISTEN_NOTIFY'] must be True or False"),
        ("WORKFLOWS_EXECUTION_MODE", "celery", "EXECUTION_MODE'] must be one of 'inline'"),
        ("WORKFLOWS_DISPATCH", "redis://x", "DISPATCH'] must be 'worker', 'celery' or"),
    ],
)
def test_check_settings__a_bad_value_from_the_environment_names_the_variable(
    monkeypatch, variable, text, message
) -> None:
    monkeypatch.setenv(variable, text)

    with override_settings(WORKFLOWS=conf.settings_from_env()):
        [error] = workflows_checks.check_settings()
        with pytest.raises(ImproperlyConfigured, match=variable):
            conf.get_settings()

    assert error.id == "workflows_app.E002"
    assert message in error.msg
    assert error.msg.endswith(f" (from the environment variable {variable}).")


def test_check_settings__a_value_the_project_set_over_the_environment_names_no_variable(
    monkeypatch,
) -> None:
    monkeypatch.setenv("WORKFLOWS_LEASE_SECONDS", "soon")

    with override_settings(WORKFLOWS={**conf.settings_from_env(), "LEASE_SECONDS": "later"}):
        [error] = workflows_checks.check_settings()

    assert error.msg == (
        "WORKFLOWS['LEASE_SECONDS'] must be a number of seconds above 0, not 'later'."
    )


def test_check_settings__a_stray_variable_with_the_prefix_is_a_warning(monkeypatch) -> None:
    monkeypatch.setenv("WORKFLOWS_LEASE_SECOND", "30")
    monkeypatch.setenv("WORKFLOWS_COLOUR", "blue")
    conf.settings_from_env()

    with override_settings(WORKFLOWS={}):
        warnings = workflows_checks.check_settings()

    assert [(warning.id, warning.level) for warning in warnings] == [
        ("workflows_app.W002", django_checks.WARNING)
    ] * 2
    assert "WORKFLOWS_COLOUR names no key" in warnings[0].msg
    assert "WORKFLOWS_LEASE_SECOND names no key" in warnings[1].msg
    assert warnings[1].hint == "Did you mean WORKFLOWS_LEASE_SECONDS?"


def test_get_setting__one_key__despite_another_invalid() -> None:
    with override_settings(WORKFLOWS={"LEASE_SECONDS": "soon", "API_AUTH": ["a.b"]}):
        assert conf.get_setting("API_AUTH") == ["a.b"]
        assert conf.get_setting("EXECUTION_MODE") == "inline"
        with pytest.raises(ImproperlyConfigured, match="LEASE_SECONDS"):
            conf.get_setting("LEASE_SECONDS")


def test_check_action_links__needs_a_base_url_and_the_pages() -> None:
    with override_settings(WORKFLOWS={"ACTION_LINKS": True}):
        [error] = workflows_checks.check_action_links()
    assert error.id == "workflows_app.E004"
    assert "ACTION_LINKS_BASE_URL is not set" in error.msg
    on = {"ACTION_LINKS": True, "ACTION_LINKS_BASE_URL": "https://flows.example.com"}
    with override_settings(WORKFLOWS=on):
        assert workflows_checks.check_action_links() == []
    with override_settings(WORKFLOWS=on, ROOT_URLCONF="tests.no_action_urls"):
        [error] = workflows_checks.check_action_links()
    assert "do not include workflows_app.actions.urls" in error.msg
    with override_settings(WORKFLOWS={}):
        assert workflows_checks.check_action_links() == []
