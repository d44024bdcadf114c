"""Different models in parallel, one model's commands in stream order.

Messages are queued per key (the model's public id). A key's queue is drained by one
task at a time, so its commands run one after another; up to `concurrency` keys run at
once. `submit` waits while `capacity` messages are in hand, so a fast stream cannot
flood the process.

When a command is nak'ed (to be retried later), the commands queued behind it for the
same model must not overtake it. The key is then *held* at that message's stream
sequence: later messages of that model are nak'ed too, with a slightly longer delay,
until the held message comes back and settles. A hold expires after its delay plus a
grace period, in case the redelivery goes to another replica of the deployer.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from services.deployer.delivery import Delivery
from services.deployer.processing import Outcome, Verdict
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)

T = TypeVar("T")
HOLD_STEP = 0.05
"""Extra delay per queued message nak'ed behind a held one, to keep their order on return."""


@dataclass(slots=True)
class _Hold:
    sequence: int
    delay: float
    until: float
    deferred: int = 0


@dataclass(slots=True)
class _Queue(Generic[T]):
    items: deque[tuple[Delivery, T]] = field(default_factory=deque)
    draining: bool = False


class KeyedDispatcher(Generic[T]):
    def __init__(
        self,
        *,
        handle: Callable[[Delivery, T], Awaitable[Outcome]],
        concurrency: int,
        capacity: int,
        hold_grace: float,
    ) -> None:
        self._handle = handle
        self._slots = asyncio.Semaphore(concurrency)
        self._capacity = asyncio.Semaphore(capacity)
        self._hold_grace = hold_grace
        self._queues: dict[str, _Queue[T]] = {}
        self._holds: dict[str, _Hold] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_hand(self) -> int:
        return sum(len(queue.items) for queue in self._queues.values())

    async def submit(self, key: str, delivery: Delivery, item: T) -> None:
        await self._capacity.acquire()
        queue = self._queues.setdefault(key, _Queue())
        queue.items.append((delivery, item))
        self._idle.clear()
        if not queue.draining:
            queue.draining = True
            task = asyncio.create_task(self._drain(key, queue))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def close(self) -> None:
        """Stop draining; unsettled messages are redelivered by JetStream after ack_wait."""
        await cancel_and_wait(list(self._tasks))

    async def _drain(self, key: str, queue: _Queue[T]) -> None:
        try:
            while queue.items:
                delivery, item = queue.items[0]
                try:
                    await self._one(key, delivery, item)
                except Exception:
                    log.exception("message left unsettled", extra={"msg_id": delivery.msg_id})
                finally:
                    queue.items.popleft()
                    self._capacity.release()
        finally:
            queue.draining = False
            if self._queues.get(key) is queue and not queue.items:
                del self._queues[key]
            if not self._queues:
                self._idle.set()

    async def _one(self, key: str, delivery: Delivery, item: T) -> None:
        hold = self._holds.get(key)
        if hold is not None and hold.until < time.monotonic():
            del self._holds[key]
            hold = None
        if hold is not None and delivery.stream_sequence > hold.sequence:
            hold.deferred += 1
            await delivery.nak(hold.delay + HOLD_STEP * hold.deferred)
            return
        async with self._slots:
            outcome = await self._handle(delivery, item)
        if outcome.verdict is Verdict.NAK:
            self._holds[key] = _Hold(
                sequence=delivery.stream_sequence,
                delay=outcome.delay,
                until=time.monotonic() + outcome.delay + self._hold_grace,
            )
        elif hold is not None and delivery.stream_sequence == hold.sequence:
            del self._holds[key]
