"""The `api-status` durable consumer: model events move the registry's statuses.

A pull consumer on `model.events.>` of MODEL_EVENTS. Each event is judged by the pure
`lifecycle.next_state` against the model's generation and last stream sequence, then
written conditionally; a lost race re-reads and judges again. An event is acked once
its effect is stored (or it is judged irrelevant), so a crash redelivers it.

A fetched batch is settled together: one read of every model it names, the events
judged in stream order against each model as the earlier events of the batch leave it,
and one bulk write of each model's combined changes under the guard of the model as
read. When any guard fails (a delete, a repair or another consumer got there first),
every event of the batch is handled again one at a time, from a fresh read: an event
whose effect is already stored is then stale by its sequence and changes nothing.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from services.api.adapters.registry import Registry, state_of, transition_changes
from services.api.adapters.relay import OutboxRelay
from services.api.conditions import derive
from services.api.lifecycle import Action, ObservedEvent, Transition, next_state
from shared.database import Document
from shared.events import (
    DegradedData,
    DriftedData,
    FailedData,
    ModelEvent,
    ReplicaCounts,
    parse_event,
)
from shared.names import API_STATUS_DURABLE, EVENTS_STREAM, EVENTS_WILDCARD

log = logging.getLogger(__name__)

_BATCH: Final = 64
_ATTEMPTS: Final = 5


def observe(event: ModelEvent, *, sequence: int) -> ObservedEvent:
    data = event.data
    reason = message = ""
    if isinstance(data, DegradedData | FailedData):
        reason, message = data.reason, data.message
    elif isinstance(data, DriftedData):
        missing = ", ".join(f"{ref.kind}/{ref.name}" for ref in data.missing)
        reason, message = data.reason, missing
    counts = data if isinstance(data, ReplicaCounts) else None
    return ObservedEvent(
        type=event.event_type,
        generation=data.generation,
        sequence=sequence,
        reason=reason,
        message=message,
        replicas=counts.replicas if counts else None,
        ready_replicas=counts.ready_replicas if counts else None,
    )


@dataclass
class _Plan:
    """What one batch does to one model: `read` is the guard, `current` what it becomes."""

    read: Document
    current: Document
    changes: dict[str, Any] = field(default_factory=dict)
    remove: bool = False
    repair: bool = False
    updates: list[tuple[dict[str, str], str | None]] = field(default_factory=list)
    """(log fields, new status) per event that changed something, for the log."""


class StatusConsumer:
    def __init__(self, *, registry: Registry, nats: Client, relay: OutboxRelay) -> None:
        self._registry = registry
        self._nats = nats
        self._relay = relay
        self._stopping = False

    def stop(self) -> None:
        """Ask `run` to end; nats-py may swallow a cancellation inside a fetch."""
        self._stopping = True

    async def handle(self, raw: bytes, *, sequence: int) -> Action:
        try:
            event = parse_event(raw)
        except ValidationError:
            log.warning("not a model event; skipped", extra={"sequence": sequence})
            return Action.IGNORE
        observed = observe(event, sequence=sequence)
        extra = {"public_id": event.subject, "event_id": event.id, "type": event.type}
        for _ in range(_ATTEMPTS):
            document = await self._registry.by_public_id(event.data.public_id)
            if document is None:
                return Action.IGNORE
            transition = next_state(state_of(document), observed)
            now = datetime.now(UTC)
            observation = derive(document, event, sequence=sequence)
            if transition.action is Action.IGNORE:
                if not observation:
                    return Action.IGNORE
                transition = Transition(Action.UPDATE)  # conditions only
            if transition.action is Action.REMOVE:
                if await self._registry.remove(document):
                    log.info("model removed", extra=extra)
                    return Action.REMOVE
                continue
            if await self._registry.apply(
                document,
                transition,
                event_generation=observed.generation,
                event_sequence=sequence,
                now=now,
                observation=observation,
            ):
                log.info("status updated", extra={**extra, "status": transition.status})
                if transition.action is Action.REPAIR:
                    await self._kick_repair(event.data.public_id)
                return transition.action
        log.warning("status update kept losing races; will be redelivered", extra=extra)
        raise _RetryLaterError

    async def _kick_repair(self, public_id: str) -> None:
        document = await self._registry.by_public_id(public_id)
        if document is not None and document.get("outbox"):
            self._relay.kick(document["_id"], document["outbox"])

    async def run(self) -> None:
        js = self._nats.jetstream()
        subscription = None
        while not self._stopping:
            try:
                if subscription is None:
                    subscription = await js.pull_subscribe(
                        EVENTS_WILDCARD,
                        durable=API_STATUS_DURABLE,
                        stream=EVENTS_STREAM,
                        config=ConsumerConfig(
                            ack_policy=AckPolicy.EXPLICIT,
                            deliver_policy=DeliverPolicy.ALL,
                            ack_wait=30,
                        ),
                    )
                messages = await subscription.fetch(_BATCH, timeout=1.0)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event consumer waiting for NATS", extra={"error": repr(exc)})
                subscription = None
                await asyncio.sleep(0.5)
                continue
            await self._process_batch(messages)

    async def _process_batch(self, messages: list[Msg]) -> None:
        if len(messages) > 1:
            try:
                settled = await self._settle(messages)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event batch not stored; one at a time", extra={"error": repr(exc)})
                settled = False
            if settled:
                for message in messages:
                    await message.ack()
                return
        for message in messages:
            await self._process(message)

    async def _settle(self, messages: list[Msg]) -> bool:
        """Stores the effect of every event in one bulk write; False when a guard failed."""
        events: list[tuple[ModelEvent, ObservedEvent]] = []
        for message in messages:
            sequence = message.metadata.sequence.stream
            try:
                event = parse_event(message.data)
            except ValidationError:
                log.warning("not a model event; skipped", extra={"sequence": sequence})
                continue
            events.append((event, observe(event, sequence=sequence)))
        public_ids = list(dict.fromkeys(event.data.public_id for event, _ in events))
        documents = await self._registry.by_public_ids(public_ids) if public_ids else {}
        now = datetime.now(UTC)
        plans: dict[str, _Plan] = {}
        for event, observed in events:
            document = documents.get(event.data.public_id)
            if document is None:
                continue
            plan = plans.setdefault(event.data.public_id, _Plan(read=document, current=document))
            if plan.remove:
                continue  # gone by then: nothing else applies
            transition = next_state(state_of(plan.current), observed)
            observation = derive(plan.current, event, sequence=observed.sequence)
            if transition.action is Action.IGNORE:
                if not observation:
                    continue
                transition = Transition(Action.UPDATE)  # conditions only
            if transition.action is Action.REMOVE:
                if plan.changes:
                    return False  # not a path next_state takes; judge one at a time
                plan.remove = True
                continue
            changes = (
                transition_changes(
                    plan.current,
                    transition,
                    event_generation=observed.generation,
                    event_sequence=observed.sequence,
                    now=now,
                )
                | observation
            )
            plan.current = plan.current | changes
            plan.changes.update(changes)
            plan.repair = plan.repair or transition.action is Action.REPAIR
            extra = {"public_id": event.subject, "event_id": event.id, "type": event.type}
            plan.updates.append((extra, transition.status))
        writes = [
            (plan.read, None if plan.remove else plan.changes)
            for plan in plans.values()
            if plan.remove or plan.changes
        ]
        if not await self._registry.write_all(writes):
            log.info("a model changed while its events were judged; one at a time")
            return False
        for public_id, plan in plans.items():
            if plan.remove:
                log.info("model removed", extra={"public_id": public_id})
            for extra, status in plan.updates:
                log.info("status updated", extra={**extra, "status": status})
            if plan.repair:
                await self._kick_repair(public_id)
        return True

    async def _process(self, message: Msg) -> None:
        try:
            await self.handle(message.data, sequence=message.metadata.sequence.stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event not handled; will be redelivered")
            await message.nak(delay=1.0)
            return
        await message.ack()


class _RetryLaterError(RuntimeError):
    pass
