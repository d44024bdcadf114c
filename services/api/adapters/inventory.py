"""Questions to the inventory over NATS request-reply, with a deadline and a short cache.

No answer in time, no responder or a garbled reply all become `InventoryUnavailableError`
(503): a request never hangs on a missing inventory. An explicit `QueryError` reply
carries the inventory's own words.
"""

import logging
import time
from typing import TypeVar

import orjson
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError, TimeoutError
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.errors import InventoryUnavailableError
from shared.names import CAPACITY_QUERY_SUBJECT, MODELS_QUERY_SUBJECT, STATUS_QUERY_SUBJECT
from shared.queries import (
    CAPACITY_ANSWER,
    MODELS_ANSWER,
    STATUS_ANSWER,
    CapacityQuery,
    CapacityReply,
    ModelsQuery,
    QueryError,
    StatusQuery,
    StatusReply,
    WorkloadEntry,
)

log = logging.getLogger(__name__)
R = TypeVar("R", bound=BaseModel)
_MAX_PAGES = 1000
_REMEMBERED_REPLIES = 64


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

    def cluster_status_json(self, reply: StatusReply) -> orjson.Fragment:
        """`reply.cluster_status` as JSON, serialised once per distinct reply."""
        if self._rendered is None or self._rendered[0] is not reply:
            rendered = orjson.dumps(reply.cluster_status.model_dump(mode="json"))
            self._rendered = (reply, orjson.Fragment(rendered))
        return self._rendered[1]

    async def status(self, *, fresh: bool = True) -> StatusReply:
        """The cluster status; `fresh=False` accepts a reply up to the cache age old."""
        if not fresh and self._status is not None and self._status[0] > time.monotonic():
            return self._status[1]
        reply = await self._ask(STATUS_QUERY_SUBJECT, StatusQuery(), STATUS_ANSWER)
        self._status = (time.monotonic() + self._cache_seconds, reply)
        return reply

    async def models(self) -> tuple[list[WorkloadEntry], tuple[int, ...]]:
        """Every model workload in the cluster, following the inventory's pages, and what
        identifies their content: an equal second value means byte-identical pages."""
        entries: list[WorkloadEntry] = []
        serials: list[int] = []
        offset = 0
        for _ in range(_MAX_PAGES):
            page, serial = await self._ask_numbered(
                MODELS_QUERY_SUBJECT, ModelsQuery(offset=offset), MODELS_ANSWER
            )
            entries.extend(page.models)
            serials.append(serial)
            if page.next_offset is None or page.next_offset <= offset:
                return entries, tuple(serials)
            offset = page.next_offset
        raise InventoryUnavailableError(f"more than {_MAX_PAGES} pages from {MODELS_QUERY_SUBJECT}")

    async def capacity(self, query: CapacityQuery) -> CapacityReply:
        return await self._ask(CAPACITY_QUERY_SUBJECT, query, CAPACITY_ANSWER)

    async def _ask(self, subject: str, query: BaseModel, answer: TypeAdapter[R | QueryError]) -> R:
        reply, _ = await self._ask_numbered(subject, query, answer)
        return reply

    async def _ask_numbered(
        self, subject: str, query: BaseModel, answer: TypeAdapter[R | QueryError]
    ) -> tuple[R, int]:
        """The reply, and a number that changes exactly when the reply's bytes do."""
        request = query.model_dump_json().encode()
        try:
            message = await self._nats.request(subject, request, timeout=self._timeout)
        except TimeoutError as exc:
            raise InventoryUnavailableError(f"no answer to {subject} in time") from exc
        except NoRespondersError as exc:
            raise InventoryUnavailableError(f"nobody answers {subject}") from exc
        except NatsError as exc:
            raise InventoryUnavailableError(f"{subject} failed: {type(exc).__name__}") from exc
        remembered = self._parsed.get((subject, request))
        if remembered is not None and remembered[0] == message.data:
            return remembered[1], remembered[2]  # type: ignore[return-value]  # stored under this subject's type
        try:
            reply = answer.validate_json(message.data)
        except ValidationError as exc:
            log.warning("unreadable inventory reply", extra={"subject": subject})
            raise InventoryUnavailableError(f"unreadable reply to {subject}") from exc
        if isinstance(reply, QueryError):
            raise InventoryUnavailableError(reply.error)
        if len(self._parsed) > _REMEMBERED_REPLIES:
            self._parsed.clear()
        self._serial += 1
        self._parsed[(subject, request)] = (message.data, reply, self._serial)
        return reply, self._serial
