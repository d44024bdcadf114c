"""A model's past CloudEvents, read from MODEL_EVENTS by JetStream batch direct get.

Why direct get: one request returns up to a page of messages matching a subject filter
from a sequence (or a time) on, straight from the stream's store, with no consumer to
create and delete per request; at 1,000 events a page of 100 is one round trip.

The subject carries the organization and the model's name, not its public id, and a
name is reused once its model is deleted: the filter `model.events.<org>.<name>.>`
narrows the stream to that name, and each event's `subject` (the public id) picks this
model's. A first page starts at the model's creation time (less a margin for clocks),
so the events of earlier models of the same name are not even read; later pages start
after the last sequence shown. Pages end on a full page (`next_after` is then the last
sequence shown) or when the stream holds nothing more for the name (`next_after` None).
"""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg

from services.api.history import HistoryPage
from shared.errors import HistoryUnavailableError
from shared.names import EVENTS_PREFIX, EVENTS_STREAM

CLOCK_MARGIN: Final = timedelta(minutes=1)
_ROUNDS: Final = 20
_DIRECT_GET: Final = f"$JS.API.DIRECT.GET.{EVENTS_STREAM}"


@dataclass(frozen=True, slots=True)
class _Batch:
    messages: list[tuple[int, bytes]]
    last_sequence: int
    pending: int
    """Messages matching the filter after `last_sequence`."""


class EventHistory:
    def __init__(self, nats: Client, *, timeout: float = 2.0) -> None:
        self._nats = nats
        self._timeout = timeout

    async def page(
        self,
        *,
        organization_id: int,
        name: str,
        public_id: str,
        created_at: datetime,
        after: int | None,
        limit: int,
    ) -> HistoryPage:
        subject = f"{EVENTS_PREFIX}.{organization_id}.{name}.>"
        start: dict[str, object] = (
            {"seq": after + 1}
            if after is not None
            else {"start_time": _rfc3339(created_at - CLOCK_MARGIN)}
        )
        found: list[tuple[int, bytes]] = []
        wanted = public_id.encode()
        for _ in range(_ROUNDS):
            batch = await self._batch({**start, "next_by_subj": subject}, limit + 1 - len(found))
            for sequence, data in batch.messages:
                if orjson.loads(data).get("subject", "").encode() == wanted:
                    found.append((sequence, data))
            if len(found) > limit:
                shown = found[:limit]
                return HistoryPage([orjson.Fragment(d) for _, d in shown], shown[-1][0])
            if batch.pending == 0:
                return HistoryPage([orjson.Fragment(d) for _, d in found], None)
            start = {"seq": batch.last_sequence + 1}
        # Another model's events crowd this one's: show what was found, resume after it.
        last = start["seq"]
        assert isinstance(last, int)
        return HistoryPage([orjson.Fragment(d) for _, d in found], last - 1)

    async def _batch(self, request: dict[str, object], size: int) -> _Batch:
        inbox = self._nats.new_inbox()
        queue: asyncio.Queue[Msg] = asyncio.Queue()
        subscription = await self._nats.subscribe(inbox, cb=queue.put)
        messages: list[tuple[int, bytes]] = []
        try:
            await self._nats.publish(
                _DIRECT_GET, orjson.dumps({**request, "batch": size}), reply=inbox
            )
            async with asyncio.timeout(self._timeout):
                while True:
                    message = await queue.get()
                    headers = message.headers or {}
                    status = headers.get("Status")
                    if status == "404":
                        return _Batch(messages, last_sequence=0, pending=0)
                    if status == "204":
                        return _Batch(
                            messages,
                            last_sequence=int(headers.get("Nats-Last-Sequence", "0")),
                            pending=int(headers.get("Nats-Num-Pending", "0")),
                        )
                    if status is not None:
                        raise HistoryUnavailableError(
                            f"direct get answered {status} {headers.get('Description', '')}"
                        )
                    messages.append((int(headers["Nats-Sequence"]), message.data))
        except TimeoutError as exc:
            raise HistoryUnavailableError("direct get timed out") from exc
        finally:
            await subscription.unsubscribe()


def _rfc3339(moment: datetime) -> str:
    """What the server parses: UTC with a `Z` (a naive time is taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
