"""Publishes lifecycle events and consumes `model.events.>` to learn of deletions.

The durable `inventory` pull consumer survives restarts; a message is acknowledged only
after its deletion mark is persisted. Events that fail to publish stay queued and are
retried on the next round, in order.

Events go out through `shared.messaging.publish_event` (nats-py's JetStream publish) on
the broker's connection, not through a FastStream publisher: measured with FastStream
0.7.8 against a real nats-server (3,000 publishes of a 1 KB event, three rounds back to
back), its publisher took 256-334 µs p50 against 249-285 µs (+3 to +17 %), and it stores
`content-type`, `correlation_id` and `Nats-Expected-Stream` headers with every event,
which would change what the stream holds for every subscriber.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError
from pydantic import ValidationError

from services.inventory.emissions import Emission
from services.inventory.metrics import EVENTS_PUBLISHED, MODEL_DRIFTS
from shared.events import ModelDeleted, ModelDeleting, ModelDrifted, parse_event
from shared.messaging import publish_event
from shared.names import EVENTS_STREAM, EVENTS_WILDCARD, INVENTORY_DURABLE

log = logging.getLogger(__name__)
FETCH_BATCH: Final = 64


class EventPublisher:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.queue: list[Emission] = []
        self.failures = 0
        """Publishes refused or unanswered so far (each is retried on the next round)."""

    async def publish(self, emissions: list[Emission]) -> None:
        self.queue.extend(emissions)
        while self.queue:
            event = self.queue[0].event
            try:
                await publish_event(self.js, event, msg_id=self.queue[0].msg_id)
            except Exception as exc:
                self.failures += 1
                log.warning(
                    "event publish failed; will retry",
                    extra={"public_id": event.subject, "type": event.type, "error": repr(exc)},
                )
                return
            self.queue.pop(0)
            EVENTS_PUBLISHED.labels(type=event.event_type.value).inc()
            if isinstance(event, ModelDrifted):
                MODEL_DRIFTS.labels(namespace=event.data.namespace, name=event.data.name).inc()
            log.info(
                "event published",
                extra={"public_id": event.subject, "type": event.type, "event_id": event.id},
            )


DeletionHandler = Callable[[str], Awaitable[None]]


async def consume_deletions(js: JetStreamContext, on_deleting: DeletionHandler) -> None:
    """Forever: hand every `deleting`/`deleted` model's public id to `on_deleting`."""
    subscription = await js.pull_subscribe(
        EVENTS_WILDCARD,
        durable=INVENTORY_DURABLE,
        stream=EVENTS_STREAM,
        config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=30
        ),
    )
    try:
        while True:
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=1.0)
            except (FetchTimeoutError, TimeoutError):
                continue
            except Exception as exc:
                log.warning("event fetch failed", extra={"error": repr(exc)})
                await asyncio.sleep(0.5)
                continue
            for message in messages:
                try:
                    event = parse_event(message.data)
                except ValidationError:
                    log.warning("not a model event; skipped", extra={"subject": message.subject})
                    await message.ack()
                    continue
                if isinstance(event, ModelDeleting | ModelDeleted):
                    await on_deleting(event.data.public_id)
                    log.info(
                        "model marked as being deleted",
                        extra={"public_id": event.data.public_id, "event_id": event.id},
                    )
                await message.ack()
    finally:
        # Before the broker drains the connection: nats-py's fetch takes messages off a
        # pull subscription's queue without marking them done, so a drain would wait on
        # one left behind for its whole timeout.
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
