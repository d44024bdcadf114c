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
from typing import Final

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.api.history import FeedEvent, FeedFilter, FeedOverflowedError
from shared.names import EVENTS_STREAM

log = logging.getLogger(__name__)

INACTIVE_THRESHOLD_SECONDS: Final = 30.0
"""The server removes a consumer whose client vanished (the api crashed) after this long."""


class JetStreamFeeds:
    """Opens one feed per stream client (the `EventFeeds` port), each queueing at most
    `capacity` events and telling the client of `idle_seconds` without one."""

    def __init__(self, nats: Client, *, capacity: int, idle_seconds: float) -> None:
        self._nats = nats
        self._capacity = capacity
        self._idle_seconds = idle_seconds

    async def open(self, which: FeedFilter, *, after: int | None) -> "JetStreamFeed":
        feed = JetStreamFeed(
            self._nats,
            which=which,
            after=after,
            capacity=self._capacity,
            idle_seconds=self._idle_seconds,
        )
        await feed.open()
        return feed


class JetStreamFeed:
    def __init__(
        self,
        nats: Client,
        *,
        which: FeedFilter,
        after: int | None,
        capacity: int,
        idle_seconds: float,
    ) -> None:
        self._nats = nats
        self._which = which
        self._after = after
        self.capacity = capacity
        self._idle_seconds = idle_seconds
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

    async def next(self) -> FeedEvent | None:
        """The next event, or None after `idle_seconds` without one.

        Raises FeedOverflowedError once the client has fallen `capacity` events behind."""
        if self._overflowed.is_set():
            raise FeedOverflowedError
        if not self._queue.empty():
            return self._queue.get_nowait()
        getting = asyncio.ensure_future(self._queue.get())
        overflowing = asyncio.ensure_future(self._overflowed.wait())
        try:
            await asyncio.wait(
                {getting, overflowing}, timeout=self._idle_seconds, return_when="FIRST_COMPLETED"
            )
        finally:
            overflowing.cancel()
            if not getting.done():
                getting.cancel()
        if getting.done() and not getting.cancelled():
            return getting.result()
        if self._overflowed.is_set():
            raise FeedOverflowedError
        return None
