"""The `api-status` durable consumer: model events move the registry's statuses.

A pull consumer on `model.events.>` of MODEL_EVENTS, reduced to transport and batching:
what the events do is `settling.plan`'s to say. A fetched batch (one event is a batch of
one) is settled together: one read of every model it names, the plan, and one bulk
write of each model's combined changes under the guard of the model as read. When a
guard fails (a delete, a repair or another consumer got there first), the whole batch is
planned again from a fresh read: an event whose effect is already stored is then stale
by its sequence and changes nothing. Events are acked once their effect is stored (or
judged irrelevant), so a crash redelivers them; a batch that keeps losing races is
nak'ed and comes back.
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

from services.api import settling
from services.api.ports import RepairKicker, StatusStore
from shared.events import ModelEvent, parse_event
from shared.names import API_STATUS_DURABLE, EVENTS_STREAM, EVENTS_WILDCARD

log = logging.getLogger(__name__)

_BATCH: Final = 64
_ATTEMPTS: Final = 5
_RETRY_DELAY: Final = 1.0


class StatusConsumer:
    def __init__(self, *, registry: StatusStore, nats: Client, relay: RepairKicker) -> None:
        self._registry = registry
        self._nats = nats
        self._relay = relay
        self._stopping = False

    def stop(self) -> None:
        """Ask `run` to end; nats-py may swallow a cancellation inside a fetch."""
        self._stopping = True

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
        events: list[tuple[ModelEvent, int]] = []
        for message in messages:
            sequence = message.metadata.sequence.stream
            try:
                events.append((parse_event(message.data), sequence))
            except ValidationError:
                log.warning("not a model event; skipped", extra={"sequence": sequence})
        try:
            settled = await self.settle(events)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("events not stored; they will be redelivered")
            settled = False
        for message in messages:
            if settled:
                await message.ack()
            else:
                await message.nak(delay=_RETRY_DELAY)

    async def settle(self, events: list[tuple[ModelEvent, int]]) -> bool:
        """Store what `events` (with their stream sequences, in order) do; False when a
        model kept changing under every attempt."""
        public_ids = list(dict.fromkeys(event.data.public_id for event, _ in events))
        if not public_ids:
            return True
        for _ in range(_ATTEMPTS):
            models = await self._registry.by_public_ids(public_ids)
            plans = settling.plan(models, events, now=datetime.now(UTC))
            writes = [model.write for model in plans.values() if model.write is not None]
            if not writes or await self._registry.write_all(writes):
                self._report(plans)
                return True
            log.info("a model changed while its events were judged; judging them again")
        log.warning("status updates kept losing races; will be redelivered")
        return False

    def _report(self, plans: dict[str, settling.ModelPlan]) -> None:
        for model in plans.values():
            for judged in model.judged:
                event = judged.event
                extra = {"public_id": event.subject, "event_id": event.id, "type": event.type}
                if judged.removed:
                    log.info("model removed", extra=extra)
                elif judged.status is None:
                    log.info("model updated", extra=extra)  # conditions or counts only
                else:
                    log.info("status updated", extra={**extra, "status": judged.status})
            if model.repair:
                self._relay.kick(model.read.document_id, model.changes["outbox"])
