"""Task comments (the engine): a thread per task, text checked like every stored text,
edits by the author only within the window, each edit keeping the text it replaced."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.test import override_settings

from tests.integration.helpers import Edge, human, marker, workflow
from workflows_app import (
    CommentNotFoundError,
    TaskNotFoundError,
    UnauthorizedCommentError,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core.comments import MAX_TEXT
from workflows_app.engine import semantics
from workflows_app.models import HumanTaskModel, TaskCommentModel

pytestmark = pytest.mark.django_db


def a_task(engine) -> HumanTaskModel:
    wf = workflow([marker("A"), human("H")], [Edge("A", "H")], name="commented")
    started = engine.start_workflow_sync(wf, tenant_id="acme")
    return HumanTaskModel.objects.get(instance_id=started.id)


def test_a_thread_oldest_first_with_author_time_task_instance_and_tenant(engine) -> None:
    task = a_task(engine)
    first = engine.add_task_comment_sync(task.pk, "ann", "Is the amount right?")
    second = engine.add_task_comment_sync(str(task.pk), "bob", "Yes, checked with finance.")
    thread = engine.task_comments_sync(task.pk)
    assert [(c.author, c.text) for c in thread] == [
        ("ann", "Is the amount right?"),
        ("bob", "Yes, checked with finance."),
    ]
    assert first.created_at <= second.created_at
    assert (first.instance_id, first.tenant_id, first.edited_at) == (
        task.instance_id,
        "acme",
        None,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        (None, "non-empty"),
        (42, "non-empty"),
        ("x" * (MAX_TEXT + 1), f"at most {MAX_TEXT}"),
        ("a\x00b", "NUL"),
        ("a\ud800b", "lone surrogates"),
    ],
)
def test_bad_text_is_refused_and_nothing_written(engine, text, message) -> None:
    task = a_task(engine)
    with pytest.raises(WorkflowValidationError, match=message):
        engine.add_task_comment_sync(task.pk, "ann", text)
    assert not TaskCommentModel.objects.exists()


def test_the_longest_text_is_kept_whole(engine) -> None:
    task = a_task(engine)
    text = "é" * MAX_TEXT
    engine.add_task_comment_sync(task.pk, "ann", text)
    assert TaskCommentModel.objects.get().text == text


def test_an_unknown_task_is_not_found(engine) -> None:
    with pytest.raises(TaskNotFoundError):
        engine.add_task_comment_sync("00000000-0000-0000-0000-000000000000", "ann", "hi")
    with pytest.raises(TaskNotFoundError):
        engine.add_task_comment_sync("not-a-uuid", "ann", "hi")


def test_the_author_edits_within_the_window_and_the_old_text_is_kept(engine) -> None:
    task = a_task(engine)
    posted = engine.add_task_comment_sync(task.pk, "ann", "Teh amount")
    edited = engine.edit_task_comment_sync(task.pk, posted.pk, "ann", "The amount")
    stored = TaskCommentModel.objects.get(pk=posted.pk)
    assert (stored.text, stored.edited_at) == ("The amount", edited.edited_at)
    assert [entry["text"] for entry in stored.edits] == ["Teh amount"]


def test_only_the_author_edits(engine) -> None:
    task = a_task(engine)
    posted = engine.add_task_comment_sync(task.pk, "ann", "mine")
    with pytest.raises(UnauthorizedCommentError):
        engine.edit_task_comment_sync(task.pk, posted.pk, "bob", "yours now")
    assert TaskCommentModel.objects.get().text == "mine"


@override_settings(WORKFLOWS={"COMMENT_EDIT_SECONDS": 300})
def test_no_edit_after_the_window(engine) -> None:
    task = a_task(engine)
    posted = engine.add_task_comment_sync(task.pk, "ann", "first")
    later = posted.created_at + timedelta(seconds=301)
    with mock.patch.object(semantics, "utcnow", return_value=later):
        with pytest.raises(WorkflowStateError, match=r"can no longer be edited.*5 minutes"):
            engine.edit_task_comment_sync(task.pk, posted.pk, "ann", "second")
    just = posted.created_at + timedelta(seconds=299)
    with mock.patch.object(semantics, "utcnow", return_value=just):
        engine.edit_task_comment_sync(task.pk, posted.pk, "ann", "second")
    assert TaskCommentModel.objects.get().text == "second"


def test_a_comment_of_another_task_or_no_comment_is_not_found(engine) -> None:
    task, other = a_task(engine), a_task(engine)
    posted = engine.add_task_comment_sync(task.pk, "ann", "here")
    for comment_id in (posted.pk, "nope", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(CommentNotFoundError):
            engine.edit_task_comment_sync(other.pk, comment_id, "ann", "there")
    assert TaskCommentModel.objects.get().text == "here"


def test_posting_and_editing_send_task_commented(
    engine, django_capture_on_commit_callbacks
) -> None:
    from workflows_app import signals

    heard = []

    def receiver(sender, **kwargs):
        heard.append(kwargs)

    signals.task_commented.connect(receiver)
    try:
        task = a_task(engine)
        with django_capture_on_commit_callbacks(execute=True):
            comment = engine.add_task_comment_sync(task.pk, "ann", "Is the amount right?")
            engine.edit_task_comment_sync(task.pk, comment.pk, "ann", "Is the total right?")
    finally:
        signals.task_commented.disconnect(receiver)
    assert [
        (h["instance_id"], h["task_id"], h["comment_id"], h["author"], h["edited"]) for h in heard
    ] == [
        (task.instance_id, task.pk, comment.pk, "ann", False),
        (task.instance_id, task.pk, comment.pk, "ann", True),
    ]
