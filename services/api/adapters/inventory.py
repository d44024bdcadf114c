"""Questions to the inventory over NATS request-reply, with a deadline and a short cache.

No answer in time, no responder or a garbled reply all become `InventoryUnavailableError`
(503): a request never hangs on a missing inventory. A query unanswered after half the
deadline is asked once more (a replica may have died holding it). An explicit
`QueryError` reply carries the inventory's own words.

Every request still asks the inventory (so an answer is as fresh as its projection and a
missing inventory is a 503 at once), but names the version of the reply it holds: while
that is current the inventory answers a small `Unchanged`, and the held reply, already
parsed and rendered, is used again.
"""

import asyncio
import logging
import time
from typing import Any, TypeVar

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError, TimeoutError
from pydantic import BaseModel, TypeAdapter, ValidationError

from services.api.gates import available
from shared.errors import InventoryUnavailableError
from shared.names import CAPACITY_QUERY_SUBJECT, MODELS_QUERY_SUBJECT, STATUS_QUERY_SUBJECT
from shared.queries import (
    CAPACITY_ANSWER,
    MODELS_ANSWER,
    STATUS_ANSWER,
    CapacityQuery,
    CapacityReply,
    ModelsQuery,
    ModelsReply,
    QueryError,
    StatusQuery,
    StatusReply,
    Unchanged,
    WorkloadEntry,
)

log = logging.getLogger(__name__)
R = TypeVar("R", bound=BaseModel)
_MAX_PAGES = 1000
_REMEMBERED_REPLIES = 64
_LIST_ATTEMPTS = 3  # the list changed while its pages were read: read them again


class Inventory:
    """Replies are remembered by their bytes: the inventory answers from a projection that
    rarely changes between two requests, so an identical reply is not parsed again (a
    status at 500 GPU nodes is ~60 KB of JSON; a page of /all is up to 1 MiB)."""

    def __init__(self, nats: Client, *, timeout: float, status_cache_seconds: float) -> None:
        self._nats = nats
        self._timeout = timeout
        self._cache_seconds = status_cache_seconds
        self._status: tuple[float, StatusReply] | None = None
        self._parsed: dict[tuple[str, bytes], tuple[bytes, BaseModel, int]] = {}
        self._serial = 0
        self._rendered: tuple[StatusReply, orjson.Fragment] | None = None
        self._models: tuple[str, list[WorkloadEntry]] | None = None

    def cluster_status_json(self, reply: StatusReply) -> orjson.Fragment:
        """`reply.cluster_status` as JSON, serialised once per distinct reply."""
        if self._rendered is None or self._rendered[0] is not reply:
            rendered = orjson.dumps(reply.cluster_status.model_dump(mode="json"))
            self._rendered = (reply, orjson.Fragment(rendered))
        return self._rendered[1]

    async def status(self, *, fresh: bool = True, max_age: float | None = None) -> StatusReply:
        """The cluster status; `fresh=False` accepts a reply up to the cache age old,
        `max_age` one received at most that many seconds ago."""
        age = self._cache_seconds if not fresh else max_age
        cached = self._status
        if age is not None and cached is not None and time.monotonic() - cached[0] <= age:
            return available(cached[1])
        held = self._status[1] if self._status is not None else None
        known = held.version if held is not None else None
        asked = time.monotonic()  # the reply is at least this recent
        answer, _ = await self._ask_numbered(
            STATUS_QUERY_SUBJECT, StatusQuery(if_none_match=known), STATUS_ANSWER, StatusReply
        )
        if isinstance(answer, Unchanged):
            if held is None or answer.version != known:
                raise _unasked(STATUS_QUERY_SUBJECT)
            answer = held
        self._status = (asked, answer)
        return available(answer)

    async def models(self) -> tuple[list[WorkloadEntry], object]:
        """Every model workload in the cluster, following the inventory's pages, and what
        identifies their content: an equal second value means equal entries."""
        await self.status(fresh=False)  # not synced, or no cluster at all: no list either
        held = self._models
        for _ in range(_LIST_ATTEMPTS):
            query = ModelsQuery(if_none_match=held[0] if held is not None else None)
            first, serial = await self._ask_numbered(
                MODELS_QUERY_SUBJECT, query, MODELS_ANSWER, ModelsReply
            )
            if isinstance(first, Unchanged):
                if held is None or first.version != held[0]:
                    raise _unasked(MODELS_QUERY_SUBJECT)
                return held[1], held[0]
            listed = await self._follow_pages(first, serial)
            if listed is None:
                continue  # the list changed between two pages
            entries, identity = listed
            if first.version is not None:
                self._models = (first.version, entries)
            return entries, identity
        raise InventoryUnavailableError(f"{MODELS_QUERY_SUBJECT} kept changing while paged")

    async def _follow_pages(
        self, first: ModelsReply, serial: int
    ) -> tuple[list[WorkloadEntry], object] | None:
        """The pages after `first`, all of its version; None if the version moved meanwhile
        or the replica that answered `first` (asked again for the rest, since replicas
        number their versions apart) is gone. Identity: the version, or (from an inventory
        without versions) the pages' serials."""
        entries: list[WorkloadEntry] = list(first.models)
        serials = [serial]
        page, offset = first, 0
        subject = first.pages_subject or MODELS_QUERY_SUBJECT
        for _ in range(_MAX_PAGES):
            if page.next_offset is None or page.next_offset <= offset:
                return entries, first.version if first.version is not None else tuple(serials)
            offset = page.next_offset
            try:
                page, serial = await self._ask_page(subject, ModelsQuery(offset=offset))
            except InventoryUnavailableError:
                if subject == MODELS_QUERY_SUBJECT:
                    raise
                return None  # the replica that held the list is gone: another's, afresh
            if page.version != first.version:
                return None
            entries.extend(page.models)
            serials.append(serial)
        raise InventoryUnavailableError(f"more than {_MAX_PAGES} pages from {MODELS_QUERY_SUBJECT}")

    async def _ask_page(self, subject: str, query: ModelsQuery) -> tuple[ModelsReply, int]:
        page, serial = await self._ask_numbered(subject, query, MODELS_ANSWER, ModelsReply)
        return _full(subject, page), serial

    async def capacity(self, query: CapacityQuery) -> CapacityReply:
        reply, _ = await self._ask_numbered(
            CAPACITY_QUERY_SUBJECT, query, CAPACITY_ANSWER, CapacityReply
        )
        return _full(CAPACITY_QUERY_SUBJECT, reply)

    async def _ask_numbered(
        self, subject: str, query: BaseModel, answer: TypeAdapter[Any], expected: type[R]
    ) -> tuple[R | Unchanged, int]:
        """The reply, and a number that changes exactly when the reply's bytes do."""
        request = query.model_dump_json().encode()
        try:
            message = await self._request(subject, request)
        except TimeoutError as exc:
            raise InventoryUnavailableError(f"no answer to {subject} in time") from exc
        except NoRespondersError as exc:
            raise InventoryUnavailableError(f"nobody answers {subject}") from exc
        except NatsError as exc:
            raise InventoryUnavailableError(f"{subject} failed: {type(exc).__name__}") from exc
        remembered = self._parsed.get((subject, request))
        if remembered is not None and remembered[0] == message.data:
            reply: BaseModel = remembered[1]
        else:
            try:
                reply = answer.validate_json(message.data)
            except ValidationError as exc:
                log.warning("unreadable inventory reply", extra={"subject": subject})
                raise InventoryUnavailableError(f"unreadable reply to {subject}") from exc
        if isinstance(reply, QueryError):
            raise InventoryUnavailableError(reply.error)
        if not isinstance(reply, expected | Unchanged):
            raise InventoryUnavailableError(f"unexpected reply to {subject}")
        if remembered is not None and remembered[1] is reply:
            return reply, remembered[2]
        if len(self._parsed) > _REMEMBERED_REPLIES:
            self._parsed.clear()
        self._serial += 1
        self._parsed[(subject, request)] = (message.data, reply, self._serial)
        return reply, self._serial

    async def _request(self, subject: str, request: bytes) -> Msg:
        """The first reply, to the query or to a second ask of it sent when the first half
        of the deadline brought none.

        The inventory's replicas answer in one queue group, so NATS hands a query to one
        of them; one killed (SIGKILL, OOM) with the query taken never answers it, while the
        others could at once. A query changes nothing, so asking again is safe, and the
        first ask still counts until the deadline: a replica merely slow answers it as
        before. The whole wait stays `timeout`."""
        asks = [asyncio.ensure_future(self._nats.request(subject, request, timeout=self._timeout))]
        try:
            done, _ = await asyncio.wait(asks, timeout=self._timeout / 2)
            if not done:
                log.info("inventory query unanswered, asked again", extra={"subject": subject})
                again = self._nats.request(subject, request, timeout=self._timeout / 2)
                asks.append(asyncio.ensure_future(again))
            unanswered: BaseException = TimeoutError()
            for answer in asyncio.as_completed(asks):
                try:
                    return await answer
                except TimeoutError as exc:  # the other ask may still answer
                    unanswered = exc
            raise unanswered
        finally:
            for ask in asks:
                if not ask.done():
                    ask.cancel()
                elif not ask.cancelled():
                    ask.exception()  # retrieved: an ask that lost the race may have failed


def _unasked(subject: str) -> InventoryUnavailableError:
    return InventoryUnavailableError(f"an unasked-for 'unchanged' answer to {subject}")


def _full(subject: str, answer: R | Unchanged) -> R:
    """A reply to a query that named no version: `Unchanged` cannot be its answer."""
    if isinstance(answer, Unchanged):
        raise _unasked(subject)
    return answer
