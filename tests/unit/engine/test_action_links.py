"""Action links without a database: which forms are simple, and the signed tokens (made,
read back, expired, tampered, signed for something else)."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from django.core import signing

from workflows_app.engine import action_links
from workflows_app.engine.action_links import Outcome

YES_NO = {"type": "object", "properties": {"approved": {"type": "boolean"}}}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (YES_NO, [Outcome(True, "Approve"), Outcome(False, "Reject")]),
        (
            {"properties": {"ok": {"type": "boolean", "x-action-labels": ["Yes", "No"]}}},
            [Outcome(True, "Yes"), Outcome(False, "No")],
        ),
        (
            {"properties": {"size": {"enum": ["s", "m"], "enumNames": ["Small", "Medium"]}}},
            [Outcome("s", "Small"), Outcome("m", "Medium")],
        ),
        ({"properties": {"n": {"enum": [1, 2]}}}, [Outcome(1, "1"), Outcome(2, "2")]),
        # Not simple: no form, two fields, free text, a nested enum, an array schema.
        (None, []),
        ({"properties": {"approved": {"type": "boolean"}, "why": {"type": "string"}}}, []),
        ({"properties": {"why": {"type": "string"}}}, []),
        ({"properties": {"x": {"enum": [{"a": 1}]}}}, []),
        ({"type": "array", "items": YES_NO}, []),
    ],
)
def test_outcomes__of_simple_forms_only(schema, expected) -> None:
    assert action_links.outcomes(schema) == expected


def test_answer_data__only_for_an_offered_value_of_its_type() -> None:
    assert action_links.answer_data(YES_NO, True) == {"approved": True}
    assert action_links.answer_data(YES_NO, False) == {"approved": False}
    assert action_links.answer_data(YES_NO, 1) is None  # 1 == True, but not a boolean
    assert action_links.answer_data(YES_NO, "yes") is None
    assert action_links.answer_data({"properties": {"why": {"type": "string"}}}, "x") is None


def test_sign_and_read__round_trip() -> None:
    token = action_links.sign("7d1c", False, "ann")
    assert action_links.read(token) == action_links.ActionLink("7d1c", False, "ann")


def test_read__an_expired_link() -> None:
    eight_days_ago = time.time() - 8 * 24 * 3600
    with mock.patch("django.core.signing.time.time", return_value=eight_days_ago):
        token = action_links.sign("7d1c", True, "ann")
    with pytest.raises(action_links.LinkExpiredError):
        action_links.read(token)  # the default: 7 days
    assert action_links.read(token, max_age=9 * 24 * 3600).value is True


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # the signature
        lambda token: "x" + token,  # the payload
        lambda token: token.split(":")[0],  # no signature
        lambda token: "",
    ],
)
def test_read__a_tampered_link(tamper) -> None:
    token = action_links.sign("7d1c", True, "ann")
    with pytest.raises(action_links.LinkInvalidError) as caught:
        action_links.read(tamper(token))
    assert not isinstance(caught.value, action_links.LinkExpiredError)


def test_read__a_token_signed_for_something_else() -> None:
    other = signing.dumps({"t": "7d1c", "v": True, "u": "ann"}, salt="another.salt")
    with pytest.raises(action_links.LinkInvalidError):
        action_links.read(other)
    shaped_wrong = signing.dumps({"t": 1, "v": [True], "u": "ann"}, salt=action_links.SALT)
    with pytest.raises(action_links.LinkInvalidError):
        action_links.read(shaped_wrong)
