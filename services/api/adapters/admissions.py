"""GPU admission in one MongoDB transaction: quota, placement, reservation and the new
model, stored together or not at all.

Every GPU admission first increments the one `admissions` document, so two racing
admissions (in this process or in another api replica) write the same document: the
second one conflicts, is aborted, and is judged again from what the first one stored.
Inside the transaction the admission reads the organization's quota and usage and the
reservations still outstanding, plans the model's starting replicas, and inserts the
model with its plan. A crash before the commit stores nothing, so nothing leaks.

In this process the transactions take turns in the registered session
(`TransactionSessions`): concurrent creates queue instead of conflicting.
"""

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from services.api.adapters.registry import insert_error
from services.api.admission import (
    Ask,
    Plan,
    Reservation,
    check_quota,
    free_by_node,
    place,
    reserved_by_node,
)
from services.api.lifecycle import Status
from shared.database import Document
from shared.errors import AdmissionBusyError, InsufficientResourcesError
from shared.names import Collection
from shared.queries import StatusReply
from shared.transactions import TransactionSessions

log = logging.getLogger(__name__)
_LEDGER_ID: Final = "gpus"
CONFLICT_PATIENCE: Final = 30.0
"""Seconds an admission keeps retrying conflicts: longer than a dead api's transaction
holds the admissions document (`TransactionSessions`' lease plus a heartbeat)."""
_WRITE_CONFLICT: Final = frozenset({112, 251})  # WriteConflict, NoSuchTransaction
RESERVED: Final = {"reserved": True, "status": {"$ne": Status.FAILED.value}}
"""Models whose reservation may still hold GPUs: a failed model's never does."""
RELEASE_GRACE: Final = timedelta(seconds=60)


class QuotaLimits:
    """Every organization's GPU limit, read again every `interval` seconds, for metrics
    (a scrape cannot wait on MongoDB). Admission itself always reads the limit afresh."""

    def __init__(self, db: AsyncDatabase[Document], *, interval: float = 10.0) -> None:
        self._quotas = db[Collection.ORGANIZATION_QUOTAS]
        self.interval = interval
        self.limits: dict[int, int] = {}

    async def refresh(self) -> None:
        self.limits = {
            int(document["_id"]): int(document["gpus"])
            async for document in self._quotas.find({}, {"gpus": 1})
        }

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except PyMongoError as exc:
                log.warning("quota limits not read", extra={"error": str(exc)})
            await asyncio.sleep(self.interval)


class Admissions:
    def __init__(
        self, db: AsyncDatabase[Document], *, transactions: TransactionSessions | None = None
    ) -> None:
        self._client = db.client
        self._models = db[Collection.MODELS]
        self._ledger = db[Collection.ADMISSIONS]
        self._quotas = db[Collection.ORGANIZATION_QUOTAS]
        self._transactions = transactions
        self._ledger_exists = False

    async def admit(
        self,
        build: Callable[[Plan], Document],
        *,
        organization_id: int,
        ask: Ask,
        quota_gpus: int,
        cluster: Callable[[], Awaitable[StatusReply]],
        min_vram_bytes: int,
    ) -> Document:
        """The stored model, built by `build` from its plan; `GpuQuotaExceededError` (403),
        `InsufficientResourcesError` (400) or `ModelNameTakenError` (409) store nothing.

        `cluster` is asked for the inventory's status in this admission's turn, right
        before its transaction: a status read before a queue of admissions would be old
        by the time the last of them plans with it."""
        await self._ensure_ledger()
        deadline = time.monotonic() + CONFLICT_PATIENCE
        for attempt in itertools.count():
            try:
                async with self._session() as session:
                    status = await cluster()
                    reservations, document = await self._admit_in_transaction(
                        session,
                        build,
                        organization_id=organization_id,
                        ask=ask,
                        quota_gpus=quota_gpus,
                        status=status,
                        min_vram_bytes=min_vram_bytes,
                    )
                await self._release_bound(reservations, status)
                return document
            except OperationFailure as exc:
                if not _conflict(exc):
                    raise
                if time.monotonic() > deadline:
                    raise AdmissionBusyError from exc
                backoff = min(0.2, 0.005 * (attempt + 1))
                await asyncio.sleep(random.uniform(0, backoff))  # noqa: S311
        raise AssertionError("unreachable")  # pragma: no cover

    async def _admit_in_transaction(
        self,
        session: AsyncClientSession,
        build: Callable[[Plan], Document],
        *,
        organization_id: int,
        ask: Ask,
        quota_gpus: int,
        status: StatusReply,
        min_vram_bytes: int,
    ) -> tuple[list[Reservation], Document]:
        async with await session.start_transaction():
            await self._ledger.update_one(
                {"_id": _LEDGER_ID}, {"$inc": {"seq": 1}}, session=session
            )
            limit = await self._limit(organization_id, session)
            if limit is not None:  # unlimited: the sum of what is used decides nothing
                check_quota(
                    organization_id=organization_id,
                    limit=limit,
                    used=await self._used(organization_id, session),
                    requested=quota_gpus,
                )
            reservations = await self._reservations(session)
            reserved = reserved_by_node(reservations, status.bound_gpus)
            plan = place(ask, status.placement, free_by_node(status.placement, reserved))
            if plan is None:
                raise InsufficientResourcesError(min_gpus=ask.gpus, min_vram_bytes=min_vram_bytes)
            document = build(plan)
            try:
                await self._models.insert_one(document, session=session)
            except DuplicateKeyError as exc:
                raise insert_error(document, dict(exc.details or {})) from exc
        return reservations, document

    async def reserved(self) -> list[Reservation]:
        """Every reservation that may still hold GPUs (for `/status`)."""
        return await self._reservations(None)

    async def usage(self, organization_id: int) -> tuple[int | None, int]:
        """The organization's GPU limit (None: unlimited) and the GPUs its models count."""
        return await self._quota(organization_id, None)

    async def _reservations(self, session: AsyncClientSession | None) -> list[Reservation]:
        released = {"released_at": {"$lt": datetime.now(UTC)}}
        query = {**RESERVED, "$nor": [released]}
        cursor = self._models.find(
            query, {"_id": 0, "public_id": 1, "reservation": 1}, session=session
        )
        return [
            Reservation(
                public_id=document["public_id"],
                plan=[(entry["node"], int(entry["gpus"])) for entry in document["reservation"]],
            )
            async for document in cursor
        ]

    async def _quota(
        self, organization_id: int, session: AsyncClientSession | None
    ) -> tuple[int | None, int]:
        return (
            await self._limit(organization_id, session),
            await self._used(organization_id, session),
        )

    async def _limit(self, organization_id: int, session: AsyncClientSession | None) -> int | None:
        quota = await self._quotas.find_one({"_id": organization_id}, session=session)
        return int(quota["gpus"]) if quota is not None else None

    async def _used(self, organization_id: int, session: AsyncClientSession | None) -> int:
        cursor = self._models.find(
            {"organization_id": organization_id, "quota_gpus": {"$gt": 0}},
            {"_id": 0, "quota_gpus": 1},
            session=session,
        )
        return sum([int(document["quota_gpus"]) async for document in cursor])

    async def _release_bound(self, reservations: list[Reservation], status: StatusReply) -> None:
        """Release the reservations whose pods are all bound, so that admissions stop
        reading them: after `RELEASE_GRACE`, when no admission can still be planning with
        a status from before the inventory saw them bound (each reads its status in its
        own turn). Until then they count as zero wherever the status shows them bound.
        Best effort: a reservation not released is read again, and still counts zero."""
        done = [r.public_id for r in reservations if not reserved_by_node([r], status.bound_gpus)]
        if done:
            with contextlib.suppress(PyMongoError):
                await self._models.update_many(
                    {"public_id": {"$in": done}, "released_at": None},
                    {"$set": {"released_at": datetime.now(UTC) + RELEASE_GRACE}},
                )

    async def _ensure_ledger(self) -> None:
        if self._ledger_exists:
            return
        with contextlib.suppress(DuplicateKeyError):
            await self._ledger.update_one(
                {"_id": _LEDGER_ID}, {"$setOnInsert": {"seq": 0}}, upsert=True
            )
        self._ledger_exists = True

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncClientSession]:
        if self._transactions is not None:
            async with self._transactions.session() as session:
                yield session
        else:
            async with self._client.start_session() as session:
                yield session


def _conflict(exc: OperationFailure) -> bool:
    return exc.has_error_label("TransientTransactionError") or exc.code in _WRITE_CONFLICT


def reservation_fields(plan: Plan) -> dict[str, Any]:
    """The model document's part of a plan: `planned_nodes` stays (the Deployment's
    preferred affinity must not change on a repair), `reservation` is released."""
    return {
        "planned_nodes": sorted({node for node, _ in plan}),
        "reservation": [{"node": node, "gpus": gpus} for node, gpus in plan],
        "reserved": bool(plan),
    }
