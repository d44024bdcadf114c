"""The `api-status` durable consumer: model events move the registry's statuses.

A pull consumer on `model.events.>` of MODEL_EVENTS. Each event is judged by the pure
`lifecycle.next_state` against the model's generation and last stream sequence, then
written conditionally; a lost race re-reads and judges again. An event is acked once
its effect is stored (or it is judged irrelevant), so a crash redelivers it.
"""

import asyncio
import logging
from datetime import UTC, datetime
from typing import Final

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from services.api.adapters.registry import Registry, state_of
from services.api.adapters.relay import OutboxRelay
from services.api.lifecycle import Action, ObservedEvent, next_state
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
            if transition.action is Action.IGNORE:
                return Action.IGNORE
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
            for message in messages:
                await self._process(message)

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
