"""Model turns in a NATS KV bucket: the record of `turns.TurnRecord` per model, read and
compare-and-set by revision, so two replicas asking at once cannot both be granted.

The bucket lives on the same JetStream as the commands (replicated as they are) and keeps
a record for `RECORD_TTL` after its last write: long enough that a command cannot still
be waiting in the stream when its model's record goes.
"""

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Final

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.deployer.turns import (
    Busy,
    Granted,
    Rank,
    Turn,
    TurnRecord,
    decide,
    given_back,
)
from shared.messaging import open_key_value

log = logging.getLogger(__name__)

BUCKET: Final = "jan_models_deployer_turns"
RECORD_TTL: Final = timedelta(days=7)
_CAS_TRIES: Final = 8
_GIVE_BACK_FIRST_WAIT: Final = 0.05
_GIVE_BACK_LONGEST_WAIT: Final = 2.0


async def open_bucket(js: JetStreamContext, *, replicas: int) -> KeyValue:
    return await open_key_value(js, BUCKET, replicas=replicas, ttl=RECORD_TTL.total_seconds())


def _encode(record: TurnRecord) -> bytes:
    return json.dumps(
        {
            "done": list(record.done),
            "holder": record.holder,
            "until": record.until,
            "applied": record.applied,
        }
    ).encode()


def _decode(data: bytes | None) -> TurnRecord | None:
    if not data:
        return None
    raw = json.loads(data)
    done = raw.get("done") or [0, 0]
    return TurnRecord(
        done=(int(done[0]), int(done[1])),
        holder=raw.get("holder"),
        until=raw["until"],
        applied=raw.get("applied"),
    )


class KvModelTurns:
    def __init__(
        self,
        kv: KeyValue,
        *,
        me: str,
        lease: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        self._me = me
        self._lease = lease
        self._clock = clock

    async def take(self, public_id: str, rank: Rank, *, msg_id: str = "") -> Turn:
        for _ in range(_CAS_TRIES):
            record, revision = await self._read(public_id)
            turn, new = decide(
                record,
                public_id=public_id,
                rank=rank,
                me=self._me,
                now=self._clock(),
                lease=self._lease,
                msg_id=msg_id,
            )
            if new is None:
                return turn
            if await self._write(public_id, new, revision):
                return turn
        # lost every race in a row: someone else is busy with this model right now
        return Busy(holder="", retry_in=0.2)

    async def give_back(self, turn: Granted, *, done: bool, applied: bool = False) -> None:
        """End the turn, recording what it carried out.

        A write NATS does not answer (the node leading the bucket lost, an election under
        way) is tried again until the lease runs out, not given up: this record is what
        keeps the command's redelivery from writing its objects a second time, and it is
        most needed in exactly the outage that also refused the command's event. Waiting
        is safe: while the lease holds no other replica acts on the model, and in this
        one the model's next command waits for this one to end (`ordering`).
        """
        wait = _GIVE_BACK_FIRST_WAIT
        conflicts = 0
        while True:
            try:
                record, revision = await self._read(turn.public_id)
                new = given_back(record, turn, me=self._me, done=done, applied=applied)
                if await self._write(turn.public_id, new, revision):
                    return
            except Exception as exc:
                if self._clock() + wait >= turn.until:
                    raise
                log.warning(
                    "could not give back a model's turn; trying again",
                    extra={"public_id": turn.public_id, "error": repr(exc), "retry_in": wait},
                )
                await asyncio.sleep(wait)
                wait = min(wait * 2, _GIVE_BACK_LONGEST_WAIT)
                continue
            conflicts += 1
            if conflicts >= _CAS_TRIES:
                break
        log.warning(
            "could not give back a model's turn; its lease will run out",
            extra={"public_id": turn.public_id},
        )

    async def _read(self, key: str) -> tuple[TurnRecord | None, int]:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:  # KeyDeletedError included
            return None, 0
        return _decode(entry.value), entry.revision or 0

    async def _write(self, key: str, record: TurnRecord, revision: int) -> bool:
        try:
            if revision == 0:
                await self._kv.create(key, _encode(record))
            else:
                await self._kv.update(key, _encode(record), last=revision)
        except KeyWrongLastSequenceError:
            return False
        return True
