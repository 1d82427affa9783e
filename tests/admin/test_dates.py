"""``wf_when``: the one way the admin's pages show a moment (relative, the exact local
time on hover)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.test import override_settings

from workflows_app.templatetags.workflows_admin import wf_when

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-20), "just now"),
        (timedelta(seconds=20), "in under a minute"),
        (timedelta(minutes=-5), "5\xa0minutes ago"),
        (timedelta(minutes=115), "in 2\xa0hours"),  # rounded, not cut to "1 hour"
        (timedelta(days=2, hours=23), "in 3\xa0days"),
        (timedelta(days=-1, hours=-2), "1\xa0day ago"),
        (timedelta(days=-20), "3\xa0weeks ago"),
        (timedelta(days=400), "in 1\xa0year"),
    ],
)
def test_wf_when__relative_text(delta: timedelta, text: str) -> None:
    assert f">{text}</time>" in wf_when(NOW + delta, NOW)


@override_settings(TIME_ZONE="Europe/Paris")
def test_wf_when__iso_datetime_and_the_exact_local_time_on_hover() -> None:
    html = wf_when(NOW - timedelta(hours=3), NOW)
    assert html == (
        '<time datetime="2026-03-10T09:00:00+00:00" title="2026-03-10 10:00:00 CET">'
        "3\xa0hours ago</time>"
    )


def test_wf_when__takes_the_iso_strings_of_a_tasks_activity() -> None:
    assert wf_when("2026-03-10T11:00:00+00:00", NOW).endswith(">1\xa0hour ago</time>")


@pytest.mark.parametrize("value", [None, "", "not a date", 3])
def test_wf_when__nothing_for_what_is_not_a_moment(value) -> None:
    assert wf_when(value, NOW) == ""


def test_wf_when__is_a_template_filter() -> None:
    rendered = Template("{% load workflows_admin %}{{ at|wf_when }}").render(
        Context({"at": datetime.now(UTC) - timedelta(minutes=10)})
    )
    assert rendered.startswith("<time datetime=") and rendered.endswith("10\xa0minutes ago</time>")
