"""Messages correlated by business key: who receives a published message, and when.

A branch that reaches a :class:`~workflows_app.MessageStep` reads the value of the step's
``correlation_key`` from the context, once, and waits: its subscription (a row of
``workflow_message_subscriptions``) is committed with its waiting execution (see
:mod:`.batches`). The rules, all here:

- **Publish** (:func:`publish`, one transaction): a message goes to the subscription with
  its name and correlation value, in its tenant, that has waited longest; subscriptions
  of suspended and failed instances are passed over (and kept). The subscription row is locked
  (``SELECT ... FOR UPDATE SKIP LOCKED`` where the database has it) and deleted, and the
  instance resumed, in the same transaction: two publishes racing for one subscription
  deliver one message, and the other finds no subscription.
- **Buffer.** With nobody waiting and a ``ttl``, the message is kept until it runs out; a
  branch that starts waiting for it meanwhile receives it right after its subscription
  is committed (:func:`deliver_buffered`, one transaction), and so does a suspended
  instance when it is resumed (or a failed one when it is retried). Without a ``ttl`` it
  is dropped.
- **Duplicates.** A message with a ``message_id`` is remembered (tenant, name and id,
  unique) for its ``ttl``, or until pruned when it has none; another message with that
  id meanwhile is ignored.
- **Start.** With nobody waiting, a message named by a workflow's ``start_on_message``
  starts an instance of it, unless one started by the same correlation value still runs.
- **Cancel.** A canceled instance's subscriptions are deleted with it
  (:func:`unsubscribe`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connections, transaction
from django.db.models import Q

from workflows_app import conf
from workflows_app.core.models import PublishResult, WorkflowInstanceData
from workflows_app.core.types import MessageStatus, PublishOutcome, StepStatus, WorkflowStatus
from workflows_app.engine import leases, semantics, task_actions
from workflows_app.engine.store import Transition
from workflows_app.models import (
    MessageModel,
    MessageSubscriptionModel,
    StepExecutionModel,
    WorkflowInstanceModel,
)

__all__ = [
    "MAX_TTL",
    "PublishResult",
    "deliver_buffered",
    "prune",
    "publish",
    "unsubscribe",
]

MAX_TTL = semantics.MESSAGE_MAX_TTL
"""The longest a message may be buffered or its id remembered."""

_STALE_TRIES = 20  # subscriptions found stale (their step no longer waits) in one publish


class _Stale(Exception):
    """The subscription's step no longer waits (or its instance cannot take it now)."""


def _digest(*parts: str | None) -> str:
    """A unique key of ``parts`` that fits any database's unique index."""
    text = json.dumps(parts, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _dedup_key(tenant_id: str | None, name: str, message_id: str | None) -> str | None:
    if message_id is None:
        return None
    return _digest("message", tenant_id, name, message_id)


def _locking(rows: Any, using: str) -> Any:
    """``rows`` locked for this transaction, skipping rows another one holds locked."""
    features = connections[using].features
    if not features.has_select_for_update:
        return rows  # SQLite: writers are serialised
    kwargs: dict[str, Any] = {}
    if features.has_select_for_update_skip_locked:
        kwargs["skip_locked"] = True
    if features.has_select_for_update_of:
        kwargs["of"] = ("self",)
    return rows.select_for_update(**kwargs)


# -- publishing --------------------------------------------------------------------------


def publish(
    engine: Any,
    name: str,
    correlation_key: Any,
    payload: Any,
    *,
    message_id: str | None = None,
    ttl: Any = None,
    tenant_id: str | None = None,
) -> PublishResult:
    """Publish a message (see the module's docstring); return what it did."""
    using = engine.using
    depth = conf.get_settings().JSON_MAX_DEPTH
    value, lifetime = semantics.check_publish(
        name, correlation_key, payload, message_id, ttl, tenant_id, depth
    )
    starter = semantics.message_starter(engine.registry, name)
    now = semantics.utcnow()
    expires = None if lifetime is None else now + lifetime
    key = _dedup_key(tenant_id, name, message_id)
    described = {"name": name, "correlation_key": value, "message_id": message_id}
    delivery: tuple[Transition, Any] | None = None
    kept: UUID | None = None
    try:
        with transaction.atomic(using=using):
            if key is not None and _known(using, key, now):
                return PublishResult(PublishOutcome.DUPLICATE)
            passed: set[UUID] = set()
            for _ in range(_STALE_TRIES):
                found = _subscription(using, name, value, tenant_id, passed)
                if found is None:
                    break
                try:
                    delivery = _deliver(engine, found, payload, described)
                    break
                except _Stale:
                    passed.add(found.pk)
            if delivery is not None:
                instance_id = delivery[0].state.id
                if key is not None:
                    _remember(using, key, described, tenant_id, None, now, expires, instance_id)
            elif starter is None and lifetime is not None:
                kept = _remember(
                    using, key, described, tenant_id, payload, now, expires, None, buffered=True
                )
                event = {**described, "tenant_id": tenant_id, "expires_at": expires}
                engine.effects.send_after_commit([("message.buffered", event)])
            elif starter is None:
                return PublishResult(PublishOutcome.DROPPED)
    except IntegrityError:
        if key is not None and _known(using, key, now):
            return PublishResult(PublishOutcome.DUPLICATE)  # a racing publish of the same id
        raise
    if delivery is None and starter is None:
        return _deliver_late(engine, kept, name, value, tenant_id, expires)
    if delivery is None:
        return _start(engine, starter, described, value, payload, tenant_id, key, now, expires)
    t, definition = delivery
    state = engine.drive.run_on(t.state.id, definition, t.state, t.lease, t.version)
    return PublishResult(PublishOutcome.DELIVERED, instance_id=state.id)


def _deliver_late(
    engine: Any,
    kept: UUID | None,
    name: str,
    value: str,
    tenant_id: str | None,
    expires: datetime | None,
) -> PublishResult:
    """After the message ``kept`` was buffered and committed: deliver it to a branch that
    subscribed meanwhile (its drive committed the subscription after this publish looked
    and may have looked for buffered messages before this one was committed: each side
    looks again after its own commit, so one of them sees the other)."""
    waiting = (
        MessageSubscriptionModel.objects.using(engine.using)
        .filter(message_name=name, correlation_value=value, tenant_id=tenant_id)
        .order_by("created_at", "id")
        .values_list("instance_id", flat=True)
    )
    for instance_id in list(dict.fromkeys(waiting[:_STALE_TRIES])):
        deliver_buffered(engine, instance_id)
        if _kept_status(engine.using, kept)[0] != MessageStatus.BUFFERED:
            break
    # Say what became of it: still buffered; delivered (a message with an id is kept as
    # delivered, with its receiver); or delivered and forgotten (one without an id is
    # deleted once delivered: who received it is not known here).
    status, receiver = _kept_status(engine.using, kept)
    if status == MessageStatus.BUFFERED:
        return PublishResult(PublishOutcome.BUFFERED, expires_at=expires)
    return PublishResult(PublishOutcome.DELIVERED, instance_id=receiver)


def _kept_status(using: str, kept: UUID | None) -> tuple[str | None, UUID | None]:
    """The status and receiving instance of the stored message ``kept`` ((None, None) once
    it is deleted)."""
    found = (
        MessageModel.objects.using(using).filter(pk=kept).values_list("status", "instance_id")
    ).first()
    return found if found is not None else (None, None)


def _known(using: str, key: str, now: datetime) -> bool:
    """Whether a message with the dedup ``key`` is remembered; a forgotten one (its time
    ran out) is deleted."""
    row = MessageModel.objects.using(using).filter(dedup_key=key).first()
    if row is None:
        return False
    if row.expires_at is None or row.expires_at > now:
        return True
    MessageModel.objects.using(using).filter(pk=row.pk, expires_at=row.expires_at).delete()
    return False


def _remember(
    using: str,
    key: str | None,
    described: dict[str, Any],
    tenant_id: str | None,
    payload: Any,
    now: datetime,
    expires: datetime | None,
    instance_id: UUID | None,
    *,
    buffered: bool = False,
) -> UUID:
    """Keep the message: ``buffered`` (with its ``payload``), or delivered (to
    ``instance_id``, or to an instance about to start)."""
    delivered = not buffered
    return (
        MessageModel.objects.using(using)
        .create(
            name=described["name"],
            correlation_value=described["correlation_key"],
            tenant_id=tenant_id,
            message_id=described["message_id"],
            dedup_key=key,
            payload=payload,
            status=MessageStatus.DELIVERED if delivered else MessageStatus.BUFFERED,
            created_at=now,
            expires_at=expires,
            delivered_at=now if delivered else None,
            instance_id=instance_id,
        )
        .pk
    )


def _subscription(
    using: str, name: str, value: str, tenant_id: str | None, passed: set[UUID]
) -> MessageSubscriptionModel | None:
    """The subscription that has waited longest for (name, value) in the tenant, locked;
    those ``passed`` over already and those another transaction holds are skipped."""
    rows = (
        MessageSubscriptionModel.objects.using(using)
        .filter(message_name=name, correlation_value=value, tenant_id=tenant_id)
        .exclude(pk__in=passed)
        .order_by("created_at", "id")
    )
    return _locking(rows, using).first()


class _Held(Exception):
    """The subscription's instance is suspended or failed: it takes no message now, and
    keeps its subscription (see :data:`_HELD`)."""


# Instances that keep their subscriptions but receive nothing until resumed or retried.
_HELD = semantics.MESSAGE_HELD


def _deliver(
    engine: Any, subscription: MessageSubscriptionModel, payload: Any, described: dict[str, Any]
) -> tuple[Transition, Any]:
    """Resume the branch waiting with ``subscription`` with ``payload``, and delete the
    subscription, in the caller's transaction; return the transition and the instance's
    definition (to run it on after the commit).

    Raise :class:`_Stale` if it cannot take the message: its step no longer waits (the
    subscription is deleted), or its instance is suspended or failed (the subscription
    is kept)."""
    using = engine.using
    deleted, _ = MessageSubscriptionModel.objects.using(using).filter(pk=subscription.pk).delete()
    if not deleted:
        raise _Stale()  # delivered meanwhile (a database without SKIP LOCKED)
    found: dict[str, Any] = {}

    def apply(row: WorkflowInstanceModel, t: Transition) -> None:
        if row.status in _HELD:
            raise _Held()
        step_name = (
            StepExecutionModel.objects.using(using)
            .filter(pk=subscription.step_execution_id, status=StepStatus.WAITING)
            .values_list("step_name", flat=True)
            .first()
        )
        definition = engine.store.definition_of(row)
        step = definition.steps.get(step_name) if step_name is not None else None
        if step is None or not semantics.is_message(step) or t.state.status.is_terminal:
            t.changed = False  # its step no longer waits: the subscription is gone
            return
        data = {step.get_payload_key(): payload}
        t.events = semantics.deliver_message(t.state, definition, step_name, payload, described)
        t.events[:0] = task_actions.complete(
            using, row.pk, subscription.step_execution_id, step_name, None, data, event=False
        )
        t.lease = leases.take(row, t.state, definition, t.events)
        found["definition"] = definition

    try:
        t = engine.store.transition(subscription.instance_id, apply, engine.effects.committing)
    except _Held:
        subscription.save(using=using, force_insert=True)  # kept until resumed or retried
        raise _Stale() from None
    if "definition" not in found:
        raise _Stale()
    return t, found["definition"]


# -- buffered messages -------------------------------------------------------------------


def deliver_buffered(engine: Any, instance_id: UUID) -> WorkflowInstanceData | None:
    """Deliver to the instance's subscriptions the buffered messages that wait for them
    (one transaction each); return the instance's state after the last delivery (run on,
    in inline mode, when no drive held it), or None when nothing was delivered."""
    using = engine.using
    subscriptions = list(
        MessageSubscriptionModel.objects.using(using)
        .filter(instance_id=instance_id)
        .order_by("created_at")
        .values_list("pk", "message_name", "correlation_value", "tenant_id")
    )
    if not subscriptions:
        return None
    matching = Q()
    for _pk, name, value, tenant_id in subscriptions:
        matching |= Q(name=name, correlation_value=value, tenant_id=tenant_id)
    now = semantics.utcnow()
    buffered = (
        MessageModel.objects.using(using)
        .filter(matching, status=MessageStatus.BUFFERED, expires_at__gt=now)
        .exists()
    )
    if not buffered:
        return None  # the common case: one query
    state = None
    for pk, name, value, tenant_id in subscriptions:
        delivered = _deliver_one(engine, pk, name, value, tenant_id, now)
        if delivered is not None:
            t, definition = delivered
            state = engine.drive.run_on(t.state.id, definition, t.state, t.lease, t.version)
    return state


def _deliver_one(
    engine: Any, pk: UUID, name: str, value: str, tenant_id: str | None, now: datetime
) -> tuple[Transition, Any] | None:
    using = engine.using
    with transaction.atomic(using=using):
        rows = MessageModel.objects.using(using).filter(
            name=name,
            correlation_value=value,
            tenant_id=tenant_id,
            status=MessageStatus.BUFFERED,
            expires_at__gt=now,
        )
        message = _locking(rows.order_by("created_at", "id"), using).first()
        if message is None:
            return None
        subscription = _locking(
            MessageSubscriptionModel.objects.using(using).filter(pk=pk), using
        ).first()
        if subscription is None:
            return None
        described = {"name": name, "correlation_key": value, "message_id": message.message_id}
        try:
            delivered = _deliver(engine, subscription, message.payload, described)
        except _Stale:
            return None
        if message.message_id is None:
            message.delete(using=using)
        else:  # remembered for its id until it expires
            message.status = MessageStatus.DELIVERED
            message.delivered_at = now
            message.instance_id = delivered[0].state.id
            message.payload = None
            message.save(
                using=using, update_fields=["status", "delivered_at", "instance", "payload"]
            )
        return delivered


# -- starting instances ------------------------------------------------------------------


def _start(
    engine: Any,
    definition: Any,
    described: dict[str, Any],
    value: str,
    payload: Any,
    tenant_id: str | None,
    key: str | None,
    now: datetime,
    expires: datetime | None,
) -> PublishResult:
    """Start an instance of ``definition`` with ``payload`` as its initial data, unless an
    instance started by a message with the correlation ``value`` still runs.

    Which instance a key started is kept as a delivered message row whose ``dedup_key``
    names the workflow and the key: the row is locked (or inserted) first, so two starts
    for one key are one after the other, and the second finds the first still running."""
    using = engine.using
    payload = semantics.message_start_data(definition, value, payload)
    starter_key = _digest("start", tenant_id, definition.name, value)
    starter = {**described, "message_id": None}
    with transaction.atomic(using=using):
        if not _claim_start(using, starter_key, starter, tenant_id, now):
            return PublishResult(PublishOutcome.DROPPED)
        if key is not None:  # its id is remembered, as for a delivered message
            _remember(using, key, described, tenant_id, None, now, expires, None)
    metadata = semantics.message_start_metadata(described["name"], value)
    marks = MessageModel.objects.using(using).filter(dedup_key__in=[starter_key, key])
    try:
        state = engine.start_workflow_sync(
            definition.name,
            payload,
            tenant_id=tenant_id,
            version=definition.version,
            metadata=metadata,
        )
    except Exception:
        marks.delete()  # nothing started: the key (and the message id) are free again
        raise
    marks.update(instance_id=state.id)
    return PublishResult(PublishOutcome.STARTED, instance_id=state.id)


_FINISHED = (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED)


def _claim_start(
    using: str, starter_key: str, described: dict[str, Any], tenant_id: str | None, now: datetime
) -> bool:
    """Record that an instance is being started for ``starter_key``; False when one that
    was started for it still runs (or is being started)."""
    rows = MessageModel.objects.using(using)
    row = rows.select_for_update().filter(dedup_key=starter_key).first()
    if row is not None:
        running = (
            row.instance_id is None
            or WorkflowInstanceModel.objects.using(using)
            .filter(pk=row.instance_id)
            .exclude(status__in=_FINISHED)
            .exists()
        )
        if running:
            return False
        row.delete(using=using)
    try:
        with transaction.atomic(using=using):
            _remember(using, starter_key, described, tenant_id, None, now, None, None)
    except IntegrityError:
        return False  # another publish is starting one for this key
    return True


# -- cleaning up -------------------------------------------------------------------------


def unsubscribe(using: str, instance_id: UUID) -> None:
    """Delete the instance's subscriptions (it was canceled)."""
    MessageSubscriptionModel.objects.using(using).filter(instance_id=instance_id).delete()


def prune(using: str, now: datetime | None = None) -> int:
    """Delete buffered messages whose ttl ran out, remembered ids that expired, and those
    remembered without a ttl whose instance was deleted (pruned); return how many."""
    now = now or semantics.utcnow()
    rows = MessageModel.objects.using(using)
    expired = Q(expires_at__lte=now)
    # A delivered message without a ttl is remembered while its instance is (a row without
    # one that is less than a day old may be an instance being started).
    orphaned = Q(status=MessageStatus.DELIVERED, expires_at=None, instance__isnull=True)
    deleted, _ = rows.filter(expired | (orphaned & Q(created_at__lte=now - _START_GRACE))).delete()
    return deleted


_START_GRACE = timedelta(days=1)
