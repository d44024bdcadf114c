"""One stream client's feed of MODEL_EVENTS: an ordered, ephemeral JetStream consumer.

Each client gets its own consumer filtered to its organization's subjects (or one
model's), starting after the sequence it last saw or at new events. The subscription's
callback only appends to a bounded queue, so a client that reads slowly costs the api a
queue of at most `capacity` events: when that queue is full the feed unsubscribes at
once and reports `FeedOverflowedError` on the next read (what it had queued is dropped:
the client is behind anyway), and the client resumes from the last sequence it received.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Final

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared.names import EVENTS_PREFIX, EVENTS_STREAM

log = logging.getLogger(__name__)

INACTIVE_THRESHOLD_SECONDS: Final = 30.0
"""The server removes a consumer whose client vanished (the api crashed) after this long."""


class FeedOverflowedError(Exception):
    """The client fell `capacity` events behind; its feed has stopped."""


@dataclass(frozen=True, slots=True)
class FeedEvent:
    sequence: int
    data: bytes
    """The CloudEvent exactly as published."""


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """Which events a client sees: its organization's, or one model's of it."""

    organization_id: int
    model_name: str | None = None
    public_id: str | None = None

    @property
    def subject(self) -> str:
        model = self.model_name or "*"
        return f"{EVENTS_PREFIX}.{self.organization_id}.{model}.*"

    def admits(self, data: bytes) -> bool:
        """A name outlives its model (deleted, then taken again): one model's feed also
        checks the event's subject, its public id."""
        if self.public_id is None:
            return True
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return False
        return isinstance(event, dict) and event.get("subject") == self.public_id


class EventFeed:
    def __init__(
        self, nats: Client, *, which: FeedFilter, after: int | None, capacity: int
    ) -> None:
        self._nats = nats
        self._which = which
        self._after = after
        self._queue: asyncio.Queue[FeedEvent] = asyncio.Queue(maxsize=capacity)
        self._overflowed = asyncio.Event()
        self._subscription: JetStreamContext.PushSubscription | None = None
        self._consumer: str | None = None
        """The consumer's name: an ordered consumer makes a new one when it sees a gap."""

    @property
    def after(self) -> int:
        """The sequence the feed starts after; known once it is open."""
        if self._after is None:
            raise RuntimeError("the feed is not open")
        return self._after

    async def open(self) -> None:
        """Subscribe after the given sequence, or after the stream's last one: a client
        that starts now learns where it started, so a reconnect leaves no gap."""
        js = self._nats.jetstream()
        if self._after is None:
            self._after = (await js.stream_info(EVENTS_STREAM)).state.last_seq
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._after + 1
        )
        self._subscription = await js.subscribe(
            self._which.subject,
            stream=EVENTS_STREAM,
            cb=self._receive,
            ordered_consumer=True,
            config=config,
            inactive_threshold=INACTIVE_THRESHOLD_SECONDS,
        )
        self._consumer = self._subscription._consumer

    async def close(self) -> None:
        await self._unsubscribe()

    async def _receive(self, msg: Msg) -> None:
        if self._overflowed.is_set():
            return
        self._consumer = msg.metadata.consumer or self._consumer
        if not self._which.admits(msg.data):
            return
        try:
            self._queue.put_nowait(FeedEvent(msg.metadata.sequence.stream, msg.data))
        except asyncio.QueueFull:
            self._overflowed.set()
            log.warning(
                "event stream client fell behind; its stream ends",
                extra={"organization_id": self._which.organization_id},
            )
            asyncio.get_running_loop().create_task(self._unsubscribe())

    async def _unsubscribe(self) -> None:
        """Unsubscribe and delete the consumer now: the server would keep an ephemeral
        consumer without interest for its inactive threshold."""
        subscription, self._subscription = self._subscription, None
        if subscription is None:
            return
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._nats.jetstream().delete_consumer(EVENTS_STREAM, self._consumer)

    async def next(self, *, wait: float) -> FeedEvent | None:
        """The next event, or None after `wait` seconds without one.

        Raises FeedOverflowedError once the client has fallen `capacity` events behind."""
        if self._overflowed.is_set():
            raise FeedOverflowedError
        if not self._queue.empty():
            return self._queue.get_nowait()
        getting = asyncio.ensure_future(self._queue.get())
        overflowing = asyncio.ensure_future(self._overflowed.wait())
        try:
            await asyncio.wait({getting, overflowing}, timeout=wait, return_when="FIRST_COMPLETED")
        finally:
            overflowing.cancel()
            if not getting.done():
                getting.cancel()
        if getting.done() and not getting.cancelled():
            return getting.result()
        if self._overflowed.is_set():
            raise FeedOverflowedError
        return None
