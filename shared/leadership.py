"""One leader among a service's replicas, elected through a NATS KV record.

The record (`holder`, `until`) is compare-and-set by revision: a replica takes it when it
is free or its lease has run out, and the holder renews it well before it does. A leader
that cannot renew in time (NATS unreachable, or someone else took over) steps down before
its lease ends, so two leaders never act at once as long as clocks agree within the
margin. Leaving gracefully frees the record, so a restarted replica leads at once; one that
was killed is replaced once its lease runs out. No Kubernetes Lease is involved, so a
service that only reads the cluster keeps read-only RBAC.
"""

import json
import logging
import time
from collections.abc import Callable
from typing import Final

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from shared.messaging import open_key_value

log = logging.getLogger(__name__)

KEY: Final = "leader"


async def open_election(js: JetStreamContext, bucket: str, *, replicas: int) -> KeyValue:
    return await open_key_value(js, bucket, replicas=replicas)


class Lease:
    def __init__(
        self, kv: KeyValue, *, me: str, seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._kv = kv
        self.me = me
        self.seconds = seconds
        self._clock = clock
        self.until = 0.0
        """When the lease this replica holds runs out (0: it holds none)."""

    @property
    def held(self) -> bool:
        """Held, with a third of the lease still to go (the margin a step-down needs)."""
        return self._clock() < self.until - self.seconds / 3

    async def try_hold(self) -> bool:
        """Take or renew the lease; False when another replica holds it (or on a lost
        race). Raises what NATS raises: the caller decides what an outage means."""
        now = self._clock()
        try:
            entry = await self._kv.get(KEY)
            raw = json.loads(entry.value or b"{}")
            revision = entry.revision or 0
        except KeyNotFoundError:
            raw, revision = {}, 0
        holder, until = raw.get("holder"), float(raw.get("until", 0.0))
        if holder not in (None, self.me) and until > now:
            self.until = 0.0
            return False
        record = json.dumps({"holder": self.me, "until": now + self.seconds}).encode()
        try:
            if revision:
                await self._kv.update(KEY, record, last=revision)
            else:
                await self._kv.create(KEY, record)
        except KeyWrongLastSequenceError:
            return False
        if holder != self.me:
            log.info("leadership taken", extra={"holder": self.me})
        self.until = now + self.seconds
        return True

    async def release(self) -> None:
        """Free the record if this replica still holds it (best effort)."""
        if not self.until:
            return
        self.until = 0.0
        try:
            entry = await self._kv.get(KEY)
            if json.loads(entry.value or b"{}").get("holder") == self.me:
                free = json.dumps({"holder": None, "until": 0.0}).encode()
                await self._kv.update(KEY, free, last=entry.revision)
        except Exception as exc:
            log.warning("could not free the leadership record", extra={"error": repr(exc)})
