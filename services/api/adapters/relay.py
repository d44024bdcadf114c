"""The outbox relay: publishes each model's pending command, then clears it on PubAck.

The request path hands a fresh entry to `kick`, which publishes at once in a task of its
own, so a 201 never waits for NATS. The `run` loop sweeps entries still pending after
their grace period and retries with backoff: at start (after a crash), whenever a publish
failed or was skipped (a NATS outage), and every `safety_interval` for anything else
(another replica's crash). The sweep is not run on every tick because a query on the
outbox costs a collection scan on servers that ignore the partial index. A re-publish keeps
its `Nats-Msg-Id`, so JetStream drops duplicates; the clear is conditional on the same
`msg_id`, so a newer command written meanwhile stays pending.
"""

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from bson import ObjectId
from nats.aio.client import Client
from nats.js import JetStreamContext
from pydantic import TypeAdapter

from services.api.adapters.registry import Registry
from services.api.metrics import COMMANDS_PUBLISHED, EVENTS_PUBLISHED
from shared.commands import Command, CreateModel, DeleteModel
from shared.events import parse_event
from shared.messaging import publish_command, publish_event

log = logging.getLogger(__name__)

_COMMAND: Final[TypeAdapter[CreateModel | DeleteModel]] = TypeAdapter(Command)
_BATCH: Final = 200
_MAX_BACKOFF: Final = 30.0
PUBLISH_TIMEOUT: Final = 2.0


class OutboxRelay:
    def __init__(
        self,
        *,
        registry: Registry,
        nats: Client,
        interval: float,
        grace: float,
        safety_interval: float = 30.0,
    ) -> None:
        self._registry = registry
        self._nats = nats
        self._js: JetStreamContext = nats.jetstream(timeout=PUBLISH_TIMEOUT)
        self._interval = interval
        self.grace = timedelta(seconds=grace)
        self._tasks: set[asyncio.Task[bool]] = set()
        self._stopping = False
        self._safety_interval = safety_interval
        self._next_sweep = 0.0  # at start: whatever a crash left behind

    def stop(self) -> None:
        self._stopping = True

    def kick(self, document_id: ObjectId, outbox: dict[str, Any]) -> None:
        """Publish now, in the background; the sweep retries whatever this does not finish."""
        if not self._nats.is_connected:
            self._sweep_after_grace()
            return
        task = asyncio.create_task(self.publish(document_id, outbox))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def publish(self, document_id: ObjectId, outbox: dict[str, Any]) -> bool:
        msg_id = outbox["msg_id"]
        command = _COMMAND.validate_python(outbox["command"])
        extra = {"public_id": command.public_id, "msg_id": msg_id}
        try:
            if outbox.get("event"):
                event = parse_event(orjson.dumps(outbox["event"]))
                await publish_event(self._js, event)
                EVENTS_PUBLISHED.labels(type=event.event_type.value).inc()
            ack = await publish_command(self._js, command)
            COMMANDS_PUBLISHED.labels(verb=command.verb).inc()
            await self._registry.clear_outbox(document_id, msg_id)
        except Exception as exc:
            self._sweep_after_grace()
            log.warning("command not published yet", extra={**extra, "error": repr(exc)})
            return False
        log.info("command published", extra={**extra, "seq": ack.seq, "duplicate": ack.duplicate})
        return True

    def _sweep_after_grace(self) -> None:
        """An entry written now is due after the grace; sweep one tick after that."""
        self._sweep_within(self.grace.total_seconds() + self._interval)

    def _sweep_within(self, seconds: float) -> None:
        self._next_sweep = min(self._next_sweep, time.monotonic() + seconds)

    async def sweep(self) -> int:
        """Publish every entry that is due; returns how many went out."""
        self._next_sweep = time.monotonic() + self._safety_interval
        if not self._nats.is_connected:
            self._sweep_within(self._interval)
            return 0
        now = datetime.now(UTC)
        published = 0
        due = await self._registry.due(now=now, limit=_BATCH)
        if len(due) == _BATCH:
            self._sweep_within(self._interval)
        for document in due:
            outbox = document["outbox"]
            if await self.publish(document["_id"], outbox):
                published += 1
                continue
            backoff = min(_MAX_BACKOFF, self._interval * 2 ** min(outbox.get("attempts", 0), 6))
            await self._registry.postpone(
                document["_id"], outbox["msg_id"], due_at=now + timedelta(seconds=backoff)
            )
            self._sweep_within(backoff)
        return published

    async def run(self) -> None:
        while not self._stopping:
            try:
                if time.monotonic() >= self._next_sweep:
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox sweep failed")
            await asyncio.sleep(self._interval)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
