"""Step semantics: the one place that decides how a workflow instance moves.

Both engines (in memory and on the database) drive instances through these
functions, so a workflow behaves the same whichever engine runs it.

An instance's live branches are :class:`~workflows_app.core.models.Token`
objects. A token is *ready* (its step is to run), *waiting* (a human step
waits for its task), *joining* (it reached a join that still waits for other
branches) or *failed*. The rules:

- A step runs through its guard (``can_execute``; False means *skipped*),
  ``execute`` and the ``on_success`` hook; if ``execute`` or ``on_success``
  raises, ``on_failure`` runs and the step *failed*.
- After a step ran, its outgoing conditions are evaluated against the context
  as the step left it. A gateway that returns a step name (or a list of
  names) routes there instead. A step listed in ``terminal_steps`` ends its
  branch. Several targets fan out into several branches.
- A step with several incoming edges is a join: it runs once, after every
  live branch that can still reach it has arrived.
- The instance is *running* while a branch is ready, *waiting* while branches
  wait only for people, *completed* when no branch is live, and *failed* as
  soon as a step fails. ``retry`` makes the failed branch ready again.

The transition functions are plain (synchronous, no I/O): they change the
instance in place and return the events to send, as ``(name, kwargs)``.
:mod:`workflows_app.engine.runner` runs the user code of steps.
"""

from __future__ import annotations

import copy
import json
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jsonschema

from workflows_app.core import clock, jsonvalues, multi_instance
from workflows_app.core import metadata as metadata_keys
from workflows_app.core.context import StepExecution
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import (
    InvalidTransitionError,
    TaskValidationError,
    WorkflowAlreadyCompletedError,
    WorkflowStateError,
    WorkflowValidationError,
    field_messages,
)
from workflows_app.core.metadata import reserved_problems
from workflows_app.core.models import Token, WorkflowInstanceData
from workflows_app.core.types import StepStatus, StepType, WorkflowStatus

Event = tuple[str, dict[str, Any]]

READY, RUNNING, WAITING, JOINING, FAILED = "ready", "running", "waiting", "joining", "failed"
SCHEDULED, SLEEPING = "scheduled", "sleeping"
# Branches that will move on by themselves: the instance is running while one is there.
_ACTIVE = (READY, RUNNING, SCHEDULED, SLEEPING)


def utcnow() -> datetime:
    """Return the time now (from :mod:`workflows_app.core.clock`, which tests replace)."""
    return clock.utcnow()


def output_of(result: Any) -> dict[str, Any] | None:
    """Return how a step result is stored as output data."""
    if result is None or isinstance(result, dict):
        return result
    return {"result": result}


def is_human(step: Any) -> bool:
    return getattr(step, "step_type", None) == StepType.HUMAN


def is_timer(step: Any) -> bool:
    return getattr(step, "step_type", None) == StepType.TIMER


def is_webhook(step: Any) -> bool:
    return getattr(step, "step_type", None) == StepType.WEBHOOK


def is_message(step: Any) -> bool:
    return getattr(step, "step_type", None) == StepType.MESSAGE


def waits(step: Any) -> bool:
    """Return True for steps that wait for the outside world: human, webhook, message and
    subworkflow steps."""
    return getattr(step, "step_type", None) in (
        StepType.HUMAN,
        StepType.WEBHOOK,
        StepType.MESSAGE,
        StepType.SUBWORKFLOW,
    )


CORRELATION_MAX_LENGTH = 255


def correlation_value(value: Any, what: str = "correlation key") -> str:
    """Return the text a correlation key's ``value`` is matched as, or raise
    :class:`WorkflowValidationError`.

    Strings, integers and booleans are keys (``1042`` and ``"1042"`` are the same key;
    ``True`` is ``"true"``); anything else (None, floats, lists, objects) is refused, and
    so is text that the database would refuse or that is longer than 255 characters.
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        shown = "None" if value is None else type(value).__name__
        raise WorkflowValidationError(
            [f"{what} must be a string, an integer or a boolean, not {shown}"]
        )
    problem = json_problem(text, what)
    if problem is not None:
        raise WorkflowValidationError([problem])
    if not text or len(text) > CORRELATION_MAX_LENGTH:
        raise WorkflowValidationError(
            [f"{what} must be 1 to {CORRELATION_MAX_LENGTH} characters long"]
        )
    return text


MESSAGE_NAME_MAX_LENGTH = 255
MESSAGE_MAX_TTL = timedelta(days=366)
"""The longest a message may be buffered or its id remembered."""


def message_correlation(step: Any, context: Any) -> str:
    """The correlation value a branch entering the message ``step`` waits for: the value
    of the step's ``correlation_key`` in ``context``, as text (read once, when the branch
    enters the step); or raise :class:`WorkflowValidationError`."""
    key = step.correlation_key
    if key not in context.data:
        raise WorkflowValidationError([f"the context has no correlation key '{key}'"])
    return correlation_value(context.data[key], f"the correlation key '{key}'")


def check_message_ttl(ttl: Any) -> timedelta | None:
    """Return ``ttl`` (seconds or a ``timedelta``) as a ``timedelta``, or raise
    :class:`WorkflowValidationError`: it must be more than 0 and at most
    :data:`MESSAGE_MAX_TTL`."""
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, int | float) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise WorkflowValidationError(["ttl must be a number of seconds or a timedelta"])
    longest = MESSAGE_MAX_TTL.total_seconds()
    if not math.isfinite(seconds) or seconds <= 0 or seconds > longest:
        raise WorkflowValidationError(
            [f"ttl must be more than 0 and at most {int(longest)} seconds"]
        )
    return timedelta(seconds=seconds)


def check_message_text(value: Any, what: str, *, optional: bool = False) -> str | None:
    """Return ``value`` (a message's name, id or tenant), or raise
    :class:`WorkflowValidationError`: text of 1 to 255 characters (None if ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > MESSAGE_NAME_MAX_LENGTH:
        raise WorkflowValidationError(
            [f"{what} must be text of 1 to {MESSAGE_NAME_MAX_LENGTH} characters"]
        )
    problem = json_problem(value, what)
    if problem is not None:
        raise WorkflowValidationError([problem])
    return value


def check_publish(
    name: Any,
    correlation_key: Any,
    payload: Any,
    message_id: Any,
    ttl: Any,
    tenant_id: Any,
    max_depth: int,
) -> tuple[str, timedelta | None]:
    """Check a publish's arguments; return the correlation value and the ttl, or raise
    :class:`WorkflowValidationError`."""
    check_message_text(name, "name")
    value = correlation_value(correlation_key)
    check_message_text(message_id, "message_id", optional=True)
    check_message_text(tenant_id, "tenant_id", optional=True)
    lifetime = check_message_ttl(ttl)
    problem = json_problem(payload, "payload", max_depth - 1)
    if problem is not None:
        raise WorkflowValidationError([problem])
    return value, lifetime


def message_starter(registry: Any, name: str) -> Any:
    """The latest definition of the workflow started by messages called ``name``, or None."""
    for definition in registry.list_definitions():
        if getattr(definition, "start_on_message", None) == name:
            return definition
    return None


def message_start_data(definition: Any, value: str, payload: Any) -> dict[str, Any]:
    """The initial data of an instance of ``definition`` that a message with the
    correlation ``value`` and ``payload`` starts: the payload (an object), with the value
    under the workflow's ``correlation_key``; or raise :class:`WorkflowValidationError`."""
    if not isinstance(payload, dict):
        raise WorkflowValidationError(
            [f"the payload of a message that starts '{definition.name}' must be an object"]
        )
    if definition.correlation_key:
        given = payload.get(definition.correlation_key, value)
        if correlation_value(given, definition.correlation_key) != value:
            raise WorkflowValidationError(
                [f"the payload's '{definition.correlation_key}' is not the correlation key"]
            )
        payload = {**payload, definition.correlation_key: given}
    return payload


def message_start_metadata(name: str, value: str) -> dict[str, Any]:
    """The metadata of an instance that a message started."""
    return {"started_by_message": {"name": name, "correlation_key": value}}


def deliver_message(
    instance: WorkflowInstanceData,
    definition: WorkflowDefinition,
    step_name: str,
    payload: Any,
    described: dict[str, Any],
) -> list[Event]:
    """Complete the message step ``step_name`` (its branch waits) with ``payload``, stored
    under the step's payload key, and move its branch on; ``described`` (the message's
    ``name``, ``correlation_key`` and ``message_id``) goes into ``message.delivered``."""
    step = definition.steps[step_name]
    events = resume(instance, definition, step_name, None, {step.get_payload_key(): payload})
    delivered = {**described, "instance_id": instance.id, "step_name": step_name}
    return [*events, ("message.delivered", delivered)]


# Instances that keep their subscriptions but receive no message until resumed or retried.
MESSAGE_HELD = (WorkflowStatus.SUSPENDED, WorkflowStatus.FAILED)


def new_callback_token() -> str:
    """Return an unguessable callback token for a webhook step."""
    return secrets.token_urlsafe(32)


# -- what running a step did ----------------------------------------------------


@dataclass
class Outcome:
    """What happened when a step ran."""

    status: StepStatus
    started_at: datetime
    completed_at: datetime
    result: Any = None
    error: str | None = None
    exception: Exception | None = field(default=None, repr=False)
    input_data: dict[str, Any] | None = None


def data_changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return what a step changed in the context data: (keys set, keys removed)."""
    changed = {k: v for k, v in after.items() if k not in before or before[k] != v}
    return changed, [k for k in before if k not in after]


NO_CHANGES: tuple[dict[str, Any], list[str]] = ({}, [])


def keep_storable(
    step_name: str, outcome: Outcome, context: Any, max_depth: int = jsonvalues.MAX_DEPTH
) -> tuple[Outcome, Any]:
    """Return the outcome of a step that ran against ``context``, and its data changes.

    A step whose data changes or result cannot be stored as JSON failed: its changes are
    undone and its outcome says why.
    """
    changes = data_changes(outcome.input_data or {}, context.data)
    problem = json_problem(changes[0], "data", max_depth) or json_problem(
        output_of(outcome.result), "result", max_depth
    )
    if problem is None:
        return outcome, changes
    problem = f"Step '{step_name}' produced what cannot be stored: {problem}"
    context.data = copy.deepcopy(outcome.input_data or {})
    failed = Outcome(
        StepStatus.FAILED,
        outcome.started_at,
        outcome.completed_at,
        error=problem,
        input_data=outcome.input_data,
    )
    return failed, NO_CHANGES


def apply_changes(data: dict[str, Any], changes: tuple[dict[str, Any], list[str]]) -> None:
    """Apply :func:`data_changes` output to ``data`` (the instance's current data)."""
    changed, removed = changes
    data.update(changed)
    for key in removed:
        data.pop(key, None)


def form_problems(schema: dict[str, Any] | None, data: dict[str, Any]) -> dict[str, list[str]]:
    """Return what is wrong with ``data`` for the JSON Schema ``schema``, by field path."""
    problems: dict[str, list[str]] = {}
    if not schema:
        return problems
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(part) for part in error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            # Report a missing property at the property, not at its parent.
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path = f"{path}/{missing}" if path else missing
            message = "This field is required."
        else:
            message = error.message
        problems.setdefault(path, []).append(message)
    return problems


# -- starting -------------------------------------------------------------------


def definition_to_start(registry: Any, workflow: Any, version: str | None) -> WorkflowDefinition:
    """Return the definition to start for a workflow class or registered name.

    Raise :class:`WorkflowNotFoundError` for an unknown name or version, and
    :class:`WorkflowValidationError` if a string condition is not allowed.
    """
    if isinstance(workflow, str):
        definition = registry.get_definition(workflow, version)
    else:
        definition = workflow.get_definition()
        if version is not None and version != definition.version:
            definition = registry.get_definition(definition.name, version)
    errors = definition.condition_errors()
    if errors:
        raise WorkflowValidationError(errors)
    return definition


def json_problem(value: Any, what: str, max_depth: int = jsonvalues.MAX_DEPTH) -> str | None:
    """Why ``value`` (named ``what`` in the message) cannot be stored as JSON, or None.

    The rule is :mod:`workflows_app.core.jsonvalues`: it holds on every database, so that
    data one database takes does not fail on another; then the value must encode.
    """
    found = jsonvalues.problems(value, max_depth, limit=1)
    if found:
        return f"{jsonvalues.describe(found[0].path, what)} {found[0].message}"
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return f"{what} must be JSON: {exc}"
    return None


def check_start_values(initial_data: Any, metadata: Any, max_depth: int) -> None:
    """Raise :class:`WorkflowValidationError` when the start's data or metadata cannot be
    stored (see :func:`json_problem`)."""
    problems = [
        json_problem(dict(initial_data or {}), "initial_data", max_depth),
        json_problem(metadata, "metadata", max_depth),
    ]
    if any(problems):
        raise WorkflowValidationError([problem for problem in problems if problem])


def check_task_data(data: Any, max_depth: int) -> None:
    """Raise :class:`TaskValidationError` when a task's submitted ``data`` cannot be
    stored (see :func:`json_problem`)."""
    problem = json_problem(data, "data", max_depth)
    if problem is not None:
        raise TaskValidationError({"": [problem]})


def check_start_arguments(initial_data: Any, metadata: Any, **strings: Any) -> None:
    """Raise :class:`WorkflowValidationError` for start arguments of the wrong type, and
    for metadata that has a key the engine keeps its records under
    (:data:`workflows_app.core.metadata.RESERVED`)."""
    errors = []
    if initial_data is not None and not isinstance(initial_data, dict):
        errors.append(f"initial_data must be a dict, not {type(initial_data).__name__}")
    if metadata is not None and not isinstance(metadata, dict):
        errors.append(f"metadata must be a dict, not {type(metadata).__name__}")
    errors.extend(reserved_problems(metadata))
    for name, value in strings.items():
        if value is not None and not isinstance(value, str):
            errors.append(f"{name} must be a string, not {type(value).__name__}")
        elif value is not None and len(value) > 255:
            errors.append(f"{name} must be at most 255 characters long")
    if errors:
        raise WorkflowValidationError(errors)


def check_start_input(definition: WorkflowDefinition, initial_data: Any) -> None:
    """Raise :class:`WorkflowValidationError` unless ``initial_data`` matches the
    workflow's ``input_schema`` (nothing to check without one).

    Its ``field_errors`` hold the problems by field path, as :func:`form_problems` finds
    them; a schema that is itself no valid JSON Schema is one problem of the definition.
    """
    schema = getattr(definition, "input_schema", None)
    if not schema:
        return
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        problem = f"The input_schema of workflow '{definition.name}' is not a JSON Schema"
        raise WorkflowValidationError([f"{problem}: {exc.message}"]) from None
    problems = form_problems(schema, initial_data if initial_data is not None else {})
    if problems:
        raise WorkflowValidationError(field_messages(problems), problems)


def instance_metadata(
    definition: WorkflowDefinition, metadata: dict[str, Any] | None
) -> dict[str, Any]:
    """Return the metadata a new instance starts with."""
    return {
        "workflow_name": definition.name,
        "workflow_version": definition.version,
        **(metadata or {}),
    }


# -- transitions ----------------------------------------------------------------


def begin(instance: WorkflowInstanceData, definition: WorkflowDefinition) -> list[Event]:
    """Put a new instance at its initial step."""
    instance.tokens = [Token(definition.initial_step)]
    instance.status = WorkflowStatus.RUNNING
    instance.current_step = definition.initial_step
    instance.context.current_step = definition.initial_step
    return [("workflow.started", {"instance_id": instance.id})]


def next_ready(instance: WorkflowInstanceData) -> Token | None:
    """Return the next branch to run, or None."""
    if instance.status != WorkflowStatus.RUNNING:
        return None
    return next((token for token in instance.tokens if token.state == READY), None)


def enter(instance: WorkflowInstanceData, token: Token, step: Any) -> list[Event]:
    """Claim ``token``: its step is about to run (and no one else may run it)."""
    token.state = RUNNING
    instance.current_step = token.step
    instance.context.current_step = token.step
    step_type = str(getattr(step, "step_type", StepType.MACHINE))
    if token.compensation:
        step_type = str(StepType.COMPENSATION)
    payload = {"instance_id": instance.id, "step_name": token.step, "step_type": step_type}
    return [("step.started", payload)]


def claim_next(
    instance: WorkflowInstanceData, definition: WorkflowDefinition, events: list[Event]
) -> Token | None:
    """Claim the next ready machine step for the drive about to run it; return its token.

    None when no branch is ready, or when the next one is a human, webhook or timer step
    (or a step the definition lacks): the drive loop parks, starts or fails those.
    """
    token = next_ready(instance)
    if token is None:
        return None
    step = definition.steps.get(token.step)
    if step is None or (not token.compensation and (waits(step) or is_timer(step))):
        return None  # a compensation always runs: it is code, even for a waiting step
    events.extend(enter(instance, token, step))
    return token


def wait(
    instance: WorkflowInstanceData, definition: WorkflowDefinition, token: Token
) -> list[Event]:
    """Park ``token`` at its human or webhook step until it is completed."""
    token.state = WAITING
    token.started_at = utcnow()
    instance.current_step = token.step
    instance.context.current_step = token.step
    events = [("workflow.waiting", {"instance_id": instance.id, "step_name": token.step})]
    return events + _settle(instance, definition)


def start_timer(
    instance: WorkflowInstanceData,
    definition: WorkflowDefinition,
    token: Token,
    step: Any,
    now: datetime,
) -> list[Event]:
    """Start the timer of ``token``'s timer step: the branch sleeps until it is due."""
    try:
        due = step.get_due_date(instance.context, now)
    except Exception as exc:
        return _fail(instance, token, f"Timer '{token.step}' failed: {exc}")
    token.state = SLEEPING
    token.started_at = now
    token.due_at = due
    instance.current_step = token.step
    payload = {"instance_id": instance.id, "step_name": token.step, "due_at": due}
    return [("timer.started", payload), *_settle(instance, definition)]


def next_due(instance: WorkflowInstanceData) -> datetime | None:
    """Return when the first scheduled retry or sleeping timer is due, or None."""
    dues = [t.due_at for t in instance.tokens if t.state in (SCHEDULED, SLEEPING) and t.due_at]
    return min(dues, default=None)


def wake(
    instance: WorkflowInstanceData, definition: WorkflowDefinition, now: datetime
) -> tuple[list[Event], list[tuple[Token, Outcome]]]:
    """Make due retries ready and fire due timers.

    Return the events and, for each timer fired, its token and the outcome recorded
    (engines write it like a step's result).
    """
    if instance.status.is_terminal or instance.status == WorkflowStatus.SUSPENDED:
        return [], []  # a suspended instance's timers and retries wait for the resume
    events: list[Event] = []
    fired = []
    for token in list(instance.tokens):
        if token.due_at is None or token.due_at > now:
            continue
        if token.state == SCHEDULED:
            token.state = READY
            token.due_at = None
        elif token.state == SLEEPING:
            outcome = Outcome(StepStatus.SUCCEEDED, token.started_at or token.due_at, now)
            token.due_at = token.started_at = None
            fired.append((token, outcome))
            events.extend(advance(instance, definition, token, outcome))
    return events, fired


def fail_missing_step(instance: WorkflowInstanceData, token: Token) -> list[Event]:
    """Fail the instance because ``token`` points at a step the definition lacks."""
    return _fail(instance, token, f"Step '{token.step}' not found in definition")


def fail_branch(instance: WorkflowInstanceData, token: Token, error: str) -> list[Event]:
    """Fail the instance at ``token``'s step, for an error outside the step's own code."""
    return _fail(instance, token, error)


def fail_drive(instance: WorkflowInstanceData, error: str, token_id: str | None) -> list[Event]:
    """Fail the instance because its drive failed (``error``), not a step's own code.

    The failed branch is the one the drive was running, ``token_id``, if it is still
    live there; otherwise a branch that a drive claimed, or the first one that would run.
    """
    live = [token for token in instance.tokens if token.state in _ACTIVE]
    token = (
        next((t for t in live if t.id == token_id), None)
        or next((t for t in live if t.state == RUNNING), None)
        or next(iter(live), None)
        or next(iter(instance.tokens), None)
    )
    return _fail(instance, token, error)


def advance(
    instance: WorkflowInstanceData,
    definition: WorkflowDefinition,
    token: Token,
    outcome: Outcome,
) -> list[Event]:
    """Record ``outcome`` of ``token``'s step and move the branch on.

    A failed step whose ``retry_policy`` allows another attempt is scheduled
    again (the branch sleeps until its back-off has passed) instead of failing
    the instance.
    """
    step = definition.steps[token.step]
    instance.context.step_history.append(executed(token, outcome))
    base = {"instance_id": instance.id, "step_name": token.step}
    if outcome.status == StepStatus.FAILED:
        event = ("step.failed", {**base, "error": outcome.error, "attempt": token.attempt})
        policy = getattr(step, "retry_policy", None)
        if policy is not None and policy.should_retry(token.attempt, outcome.exception):
            token.state = SCHEDULED
            token.due_at = outcome.completed_at + policy.delay(token.attempt)
            token.attempt += 1
            retry = {**base, "attempt": token.attempt, "due_at": token.due_at}
            return [event, ("step.retry_scheduled", retry), *_settle(instance, definition)]
        return [event, *_fail(instance, token, outcome.error or "")]
    if outcome.status == StepStatus.SKIPPED:
        events: list[Event] = [("step.skipped", base)]
    else:
        events = [("step.completed", {**base, "result": outcome.result})]
    return events + _move_on(instance, definition, token, step, outcome.result)


def executed(token: Token, outcome: Outcome, kind: str = "step") -> StepExecution:
    """The history entry of ``token``'s step run with ``outcome`` (``kind``: what kind of
    run it was, when not the step's own, e.g. a compensation)."""
    return StepExecution(
        step_name=token.step,
        status=outcome.status,
        started_at=outcome.started_at,
        completed_at=outcome.completed_at,
        result=outcome.result,
        error=outcome.error,
        input_data=outcome.input_data,
        output_data=output_of(outcome.result),
        attempt=token.attempt,
        kind=kind,
    )


def resume(
    instance: WorkflowInstanceData,
    definition: WorkflowDefinition,
    step_name: str,
    user_id: str | None,
    data: dict[str, Any],
) -> list[Event]:
    """Complete the human step ``step_name`` with ``data`` and move its branch on.

    Call :func:`waiting_token` first to check the instance may be resumed, and
    :func:`check_submission` to validate ``data``.
    """
    token = waiting_token(instance, step_name)
    now = utcnow()
    instance.context.data.update(data)
    if user_id is not None:
        instance.context.user_id = user_id
    _record(
        instance,
        StepExecution(
            step_name=step_name,
            status=StepStatus.SUCCEEDED,
            started_at=token.started_at or now,
            completed_at=now,
            result=data,
            output_data=data,
        ),
    )
    instance.status = WorkflowStatus.RUNNING
    events: list[Event] = [
        ("step.completed", {"instance_id": instance.id, "step_name": step_name, "result": data})
    ]
    return events + _move_on(instance, definition, token, definition.steps.get(step_name), None)


def start_items(instance: WorkflowInstanceData, token: Token, items: list[Any]) -> None:
    """Give ``token``, about to wait at its multi-instance step, its ``items``: no answer
    yet under ``<step>_results``."""
    token.items = list(items)
    instance.context.data[multi_instance.results_key(token.step)] = [None] * len(items)


def answer_item(
    instance: WorkflowInstanceData,
    definition: WorkflowDefinition,
    step_name: str,
    index: int,
    user_id: str | None,
    data: dict[str, Any],
) -> tuple[list[Event], bool]:
    """Record ``user_id``'s answer ``data`` to the task of item ``index`` of the
    multi-instance step ``step_name``; when the step is done (its completion condition
    holds, or every task is answered), complete it and move its branch on.

    Return the events and whether the step is done. Raise :class:`WorkflowStateError` if
    that item was answered already.
    """
    token = waiting_token(instance, step_name)
    items = token.items or []
    key = multi_instance.results_key(step_name)
    results = list(instance.context.data.get(key) or [None] * len(items))
    if not 0 <= index < len(results) or results[index] is not None:
        raise WorkflowStateError(f"Item {index} of step '{step_name}' was answered already")
    results = multi_instance.answer(results, index, items[index], user_id, data)
    instance.context.data[key] = results
    step = definition.steps.get(step_name)
    condition = getattr(step, "completion_condition", None)
    if not multi_instance.holds(condition, multi_instance.progress(results)):
        return [], False
    return resume(instance, definition, step_name, user_id, {key: results}), True


def waiting_token(instance: WorkflowInstanceData, step_name: str) -> Token:
    """Return the branch waiting at ``step_name``, or raise :class:`WorkflowStateError`.

    A finished instance (a failed one included: retry it first) has no branch to
    complete, even if a parallel branch was waiting when it failed.
    """
    if instance.status == WorkflowStatus.SUSPENDED:
        raise WorkflowStateError(
            f"Instance {instance.id} is suspended: it can be acted on again once it is resumed"
        )
    waiting = [token for token in instance.tokens if token.state == WAITING]
    if instance.status.is_terminal:
        waiting = []
    for token in waiting:
        if token.step == step_name:
            return token
    if instance.status != WorkflowStatus.WAITING or not waiting:
        raise WorkflowStateError(
            f"Instance {instance.id} is not waiting (status: {instance.status})"
        )
    steps = ", ".join(f"'{token.step}'" for token in waiting)
    raise WorkflowStateError(f"Instance is waiting at step {steps}, not '{step_name}'")


def cancel(instance: WorkflowInstanceData, reason: str) -> list[Event]:
    """Cancel a running or waiting instance; the steps that waited are recorded as canceled."""
    ensure_not_finished(instance)
    now = utcnow()
    for token in instance.tokens:
        if token.state == WAITING:
            entry = StepExecution(
                step_name=token.step,
                status=StepStatus.CANCELED,
                started_at=token.started_at or now,
                completed_at=now,
            )
            _record(instance, entry)
    instance.status = WorkflowStatus.CANCELED
    instance.error = f"Canceled: {reason}"
    instance.completed_at = now
    instance.tokens = []
    return [("workflow.canceled", {"instance_id": instance.id, "reason": reason})]


SUSPENDABLE = (WorkflowStatus.RUNNING, WorkflowStatus.WAITING)

SUSPENSION_AUDIT = metadata_keys.SUSPENSIONS
"""The metadata key of the suspensions' and resumptions' record."""

CALLBACK_BUFFER = metadata_keys.BUFFERED_CALLBACKS
"""The metadata key of the webhook callbacks received while suspended, oldest first."""

MAX_SUSPENSION_REASON = 500
"""The longest reason a suspension may give, in characters."""


def check_suspension_reason(reason: Any) -> str:
    """Return ``reason`` stripped, or raise WorkflowValidationError: a suspension needs a
    non-empty reason of at most :data:`MAX_SUSPENSION_REASON` characters."""
    if not isinstance(reason, str) or not reason.strip():
        raise WorkflowValidationError(["reason: give a reason for the suspension"])
    if len(reason) > MAX_SUSPENSION_REASON:
        raise WorkflowValidationError([f"reason: at most {MAX_SUSPENSION_REASON} characters"])
    return reason.strip()


def step_in_flight(instance_id: Any) -> WorkflowStateError:
    """The refusal to suspend an instance while a step of it runs."""
    return WorkflowStateError(f"Instance {instance_id} is running a step: suspend it once it waits")


def suspension_entry(
    action: str, by: str | None, reason: str | None, applied: int = 0
) -> dict[str, Any]:
    """The audit entry of a suspension or a resumption (who, when, why; for a resume, how
    many buffered callbacks it applied)."""
    entry: dict[str, Any] = {"action": action, "by": by, "at": utcnow().isoformat()}
    if reason is not None:
        entry["reason"] = reason
    if applied:
        entry["callbacks"] = applied
    return entry


def buffer_callback(
    buffered: list[dict[str, Any]], execution_id: str, step_name: str, payload: Any
) -> list[dict[str, Any]]:
    """Return the callback buffer ``buffered`` with the callback ``payload`` of the
    webhook wait ``execution_id`` appended; raise WorkflowStateError if that wait's
    callback is buffered already."""
    if any(entry["execution_id"] == execution_id for entry in buffered):
        raise WorkflowStateError(
            f"The webhook step '{step_name}' is no longer waiting: its callback was "
            "received while the instance is suspended, and is applied when it is resumed"
        )
    entry = {
        "execution_id": execution_id,
        "step_name": step_name,
        "payload": payload,
        "at": utcnow().isoformat(),
    }
    return [*buffered, entry]


WITHDRAWABLE = (WorkflowStatus.RUNNING, WorkflowStatus.WAITING)


def withdraw_refusal(
    status: WorkflowStatus, created_by: str | None, by: Any, *, completed: bool, claimed: bool
) -> str | None:
    """Why ``by`` may not withdraw an instance started by ``created_by`` in ``status``, a
    task of which was ``completed`` or is ``claimed``; or None if they may."""
    if not by or created_by != by:
        return f"only the user who started it ({created_by or 'nobody'}) may withdraw it"
    if status not in WITHDRAWABLE:
        return f"it is {status} (only a running or waiting instance can be withdrawn)"
    if completed:
        return "a task of it has been completed"
    if claimed:
        return "a task of it is claimed"
    return None


def check_withdrawal(
    instance_id: Any,
    status: WorkflowStatus,
    created_by: str | None,
    by: Any,
    *,
    completed: bool,
    claimed: bool,
) -> None:
    """Raise WorkflowStateError saying why ``by`` may not withdraw the instance (see
    :func:`withdraw_refusal`)."""
    why = withdraw_refusal(status, created_by, by, completed=completed, claimed=claimed)
    if why is not None:
        raise WorkflowStateError(f"Instance {instance_id} cannot be withdrawn: {why}")


def withdraw(instance: WorkflowInstanceData, by: str) -> list[Event]:
    """Cancel the instance for its starter ``by`` (the caller checked
    :func:`withdraw_refusal`); return the events."""
    reason = f"withdrawn by {by}"
    events = cancel(instance, reason)
    payload = {"instance_id": instance.id, "reason": reason, "withdrawn_by": by}
    return [*events, ("workflow.withdrawn", payload)]


def withdrawal_entry(by: str) -> dict[str, Any]:
    """The audit entry of a withdrawal."""
    return {"by": by, "at": utcnow().isoformat(), "reason": f"withdrawn by {by}"}


def suspend(instance: WorkflowInstanceData, reason: str, by: str | None) -> list[Event]:
    """Hold a running or waiting instance: nothing of it runs until :func:`lift_suspension`.

    Its branches keep their state (a timer or a retry that falls due waits for the resume);
    the caller puts its tasks on hold."""
    if instance.status not in SUSPENDABLE:
        raise WorkflowStateError(
            f"Instance {instance.id} cannot be suspended: it is {instance.status} "
            "(only running and waiting instances can be)"
        )
    instance.status = WorkflowStatus.SUSPENDED
    payload = {"instance_id": instance.id, "reason": reason, "suspended_by": by}
    return [("workflow.suspended", payload)]


def lift_suspension(
    instance: WorkflowInstanceData, definition: WorkflowDefinition, by: str | None
) -> list[Event]:
    """Resume a suspended instance: its status is derived again from its branches, and
    what fell due while it was suspended runs now."""
    if instance.status != WorkflowStatus.SUSPENDED:
        raise WorkflowStateError(
            f"Instance {instance.id} is not suspended (status: {instance.status})"
        )
    instance.status = WorkflowStatus.RUNNING
    events: list[Event] = [("workflow.resumed", {"instance_id": instance.id, "resumed_by": by})]
    return events + _settle(instance, definition)


SENDABLE_BACK = (WorkflowStatus.RUNNING, WorkflowStatus.WAITING)


def send_back(
    instance: WorkflowInstanceData,
    definition: WorkflowDefinition,
    step_name: str,
    to_step: str,
    sent_back: dict[str, Any],
) -> list[Event]:
    """Return the branch waiting at the human step ``step_name`` to the earlier step
    ``to_step`` for rework: the wait is recorded as canceled and the branch is ready at
    ``to_step``, which runs again as a new execution.

    ``sent_back`` (``reason``, ``by``, ``at``, and ``assignee``: to whom a task of
    ``to_step`` goes) travels with the branch to the task it makes. The rule of which steps
    may be sent back to is :func:`workflows_app.core.send_back.problem`; the caller checks
    it, and cancels the task.
    """
    if instance.status not in SENDABLE_BACK:
        waiting_token(instance, step_name)  # says why: suspended, or finished
        raise WorkflowStateError(
            f"Instance {instance.id} is {instance.status}: only a running or waiting "
            "instance can be sent back"
        )
    token = waiting_token(instance, step_name)
    now = utcnow()
    reason = sent_back.get("reason")
    _record(
        instance,
        StepExecution(
            step_name=step_name,
            status=StepStatus.CANCELED,
            started_at=token.started_at or now,
            completed_at=now,
            error=f"sent back to '{to_step}': {reason}",
        ),
    )
    instance.tokens.remove(token)
    instance.tokens.append(
        Token(to_step, id=token.child(to_step).id, sent_back={"from_step": step_name, **sent_back})
    )
    instance.current_step = to_step
    instance.context.current_step = to_step
    payload = {
        "instance_id": instance.id,
        "task_id": sent_back.get("task_id"),
        "from_step": step_name,
        "to_step": to_step,
        "reason": reason,
        "sent_back_by": sent_back.get("by"),
    }
    return [("workflow.sent_back", payload), *_settle(instance, definition)]


def sent_back_task(token: Token, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of the task that a branch sent back makes at its human step: it goes to
    the person the send back names (the last to complete the step), if any, and its
    activity starts with the send back (from which step, why, by whom, when)."""
    if token.sent_back is None:
        return fields
    info = token.sent_back
    entry = {"action": "sent_back", "at": info.get("at"), "by": info.get("by")}
    entry.update({"from_step": info.get("from_step"), "reason": info.get("reason")})
    fields = {**fields, "activity": [entry]}
    if info.get("assignee") is not None:
        fields["assignee_id"] = info["assignee"]
    return fields


def retry(
    instance: WorkflowInstanceData, definition: WorkflowDefinition, from_step: str | None = None
) -> list[Event]:
    """Make a failed instance run again from its failed step, or from ``from_step``."""
    if instance.status in (WorkflowStatus.COMPLETED, WorkflowStatus.CANCELED):
        raise WorkflowAlreadyCompletedError(instance.id, instance.status)
    if instance.status != WorkflowStatus.FAILED:
        raise WorkflowStateError(
            f"Workflow '{instance.id}' is {instance.status}; only failed workflows can be retried"
        )
    if from_step is not None and from_step not in definition.steps:
        raise InvalidTransitionError(
            instance.current_step or "", from_step, "the step is not in the workflow definition"
        )
    failed = [token for token in instance.tokens if token.state == FAILED]
    if from_step is not None or not failed:
        instance.tokens = [t for t in instance.tokens if t.state != FAILED]
        instance.tokens.append(Token(from_step or instance.current_step or definition.initial_step))
    else:
        for token in failed:
            token.state = READY
            token.attempt = 1
    instance.status = WorkflowStatus.RUNNING
    instance.error = None
    instance.completed_at = None
    restart = next(t.step for t in instance.tokens if t.state == READY)
    instance.current_step = restart
    instance.context.current_step = restart
    return [("workflow.retried", {"instance_id": instance.id, "step_name": restart})]


def jump(
    instance: WorkflowInstanceData, definition: WorkflowDefinition, step_name: str
) -> list[Event]:
    """Move a live instance to ``step_name``, dropping its other branches."""
    ensure_not_finished(instance)
    instance.tokens = [Token(step_name)]
    instance.status = WorkflowStatus.RUNNING
    instance.current_step = step_name
    instance.context.current_step = step_name
    return []


def escalate(
    instance: WorkflowInstanceData, definition: WorkflowDefinition, step_name: str, goto: str
) -> list[Event]:
    """Give up on the waiting human step ``step_name`` and move its branch to ``goto``."""
    token = waiting_token(instance, step_name)
    if goto not in definition.steps:
        return _fail(instance, token, f"Escalation of '{step_name}' to unknown step '{goto}'")
    now = utcnow()
    _record(
        instance,
        StepExecution(
            step_name=step_name,
            status=StepStatus.CANCELED,
            started_at=token.started_at or now,
            completed_at=now,
            error="overdue: escalated",
        ),
    )
    instance.tokens.remove(token)
    _arrive(instance, definition, token.child(goto))
    instance.status = WorkflowStatus.RUNNING
    payload = {"instance_id": instance.id, "step_name": step_name, "goto": goto}
    return [("step.escalated", payload), *_settle(instance, definition)]


def reclaim(instance: WorkflowInstanceData) -> None:
    """Make the branches of a drive that died ready again, so that their steps run again."""
    for token in instance.tokens:
        if token.state == RUNNING:
            token.state = READY


def ensure_not_finished(instance: WorkflowInstanceData) -> None:
    """Raise :class:`WorkflowAlreadyCompletedError` for a completed, failed or canceled instance."""
    if instance.status.is_terminal:
        raise WorkflowAlreadyCompletedError(instance.id, instance.status)


# -- routing and joins -------------------------------------------------------------


def _record(instance: WorkflowInstanceData, entry: StepExecution) -> None:
    """Add ``entry`` to the history, which is in the order the steps started."""
    history = instance.context.step_history
    index = len(history)
    while index and history[index - 1].started_at > entry.started_at:
        index -= 1
    history.insert(index, entry)


def _fail(instance: WorkflowInstanceData, token: Token | None, error: str) -> list[Event]:
    instance.status = WorkflowStatus.FAILED
    instance.error = error
    instance.completed_at = utcnow()
    if token is not None:  # None: an instance without branches (its drive failed)
        token.state = FAILED
        instance.current_step = token.step
        instance.context.current_step = token.step
    return [("workflow.failed", {"instance_id": instance.id, "status": instance.status})]


def _move_on(
    instance: WorkflowInstanceData,
    definition: WorkflowDefinition,
    token: Token,
    step: Any,
    result: Any,
) -> list[Event]:
    try:
        targets = _route(definition, token.step, step, result, instance.context)
    except Exception as exc:
        return _fail(instance, token, f"Routing after step '{token.step}' failed: {exc}")
    instance.tokens.remove(token)
    for target in targets:
        _arrive(instance, definition, token.child(target))
    return _settle(instance, definition)


def _route(
    definition: WorkflowDefinition, step_name: str, step: Any, result: Any, context: Any
) -> list[str]:
    if step_name in definition.terminal_steps:
        return []
    if getattr(step, "step_type", None) == StepType.GATEWAY and result is not None:
        if isinstance(result, str):
            return [result]
        if isinstance(result, list | tuple) and all(isinstance(name, str) for name in result):
            return list(dict.fromkeys(result))
    return list(dict.fromkeys(definition.get_next_steps(step_name, context)))


def _sources(definition: WorkflowDefinition, step_name: str) -> set[str]:
    return {name for name in definition.steps if step_name in definition.successors(name)} | {
        edge.get_source_name() for edge in definition.edges if edge.get_target_name() == step_name
    }


def _arrive(instance: WorkflowInstanceData, definition: WorkflowDefinition, token: Token) -> None:
    if len(_sources(definition, token.step)) < 2:
        instance.tokens.append(token)
        return
    if not any(t.step == token.step and t.state == JOINING for t in instance.tokens):
        token.state = JOINING
        instance.tokens.append(token)


def _can_reach(definition: WorkflowDefinition, start: str, goal: str) -> bool:
    seen: set[str] = set()
    pending = list(definition.successors(start))
    while pending:
        name = pending.pop()
        if name == goal:
            return True
        if name not in seen:
            seen.add(name)
            pending.extend(definition.successors(name))
    return False


# Statuses that only an operation sets and lifts, never derived from the branches.
_HELD = (WorkflowStatus.FAILED, WorkflowStatus.CANCELED, WorkflowStatus.SUSPENDED)


def _settle(instance: WorkflowInstanceData, definition: WorkflowDefinition) -> list[Event]:
    """Release joins nothing can reach any more, then derive the instance's status (unless
    an operation holds it, see ``_HELD``)."""
    changed = True
    while changed:
        changed = False
        for join in [t for t in instance.tokens if t.state == JOINING]:
            blocked = any(
                other is not join
                and other.state in (*_ACTIVE, WAITING, JOINING)
                and _can_reach(definition, other.step, join.step)
                for other in instance.tokens
            )
            if not blocked:
                join.state = READY
                changed = True
        live = {t.state for t in instance.tokens}
        if not changed and JOINING in live and not live & {*_ACTIVE, WAITING}:
            # Joins waiting only for each other (a cycle): release the oldest.
            next(t for t in instance.tokens if t.state == JOINING).state = READY
            changed = True

    if instance.status in _HELD:
        # A failure, cancel or suspension committed meanwhile (a drive replaying its batch
        # onto what another call wrote): the branches move, the status stays.
        return []
    ready = next((t for t in instance.tokens if t.state in _ACTIVE), None)
    waiting = next((t for t in instance.tokens if t.state == WAITING), None)
    if ready is not None:
        instance.status = WorkflowStatus.RUNNING
        return []
    if waiting is not None:
        instance.status = WorkflowStatus.WAITING
        instance.current_step = waiting.step
        return []
    instance.status = WorkflowStatus.COMPLETED
    instance.completed_at = utcnow()
    instance.current_step = None
    return [("workflow.completed", {"instance_id": instance.id, "status": instance.status})]
