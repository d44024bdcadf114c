"""GPU admission in one MongoDB transaction: quota, placement, reservation and the new
model, stored together or not at all.

Every GPU admission first increments the one `admissions` document, so two racing
admissions (in this process or in another api replica) write the same document: the
second one conflicts, is aborted, and is judged again from what the first one stored.
That increment also answers every organization's GPU limit (the ledger keeps them,
`adapters/quotas.py`). Inside the transaction the admission reads the usage of a limited
organization and the reservations still outstanding, plans the model's starting
replicas, and inserts the model with its plan. A crash before the commit stores nothing,
so nothing leaks.

In this process the transactions take turns in the registered session
(`TransactionSessions`), and the creates that arrive while one runs are judged together
in the next (group commit, see `Admissions`): concurrent creates neither conflict nor
queue one transaction each.

Three things keep a create's wait short on a server that runs one command at a time:
- the ledger's increment answers with its `seq`; when that is the one this process's
  last admission left plus one, no other admission ran in between, and this one plans
  on what the last one read and stored (`_Known`) instead of reading the reservations
  again (a read at least every `FULL_READ_SECONDS` gives back what was released);
- the inventory's status may be one asked a moment before (`ADMISSION_STATUS_AGE`);
- the releases a batch found are written after its creates have their answers, still
  in its turn (`GroupCommit`'s `settle`).
"""

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError

from services.api.adapters.group_commit import GroupCommit
from services.api.adapters.quotas import (
    LEDGER_ID,
    ledger_limits,
    read_limits,
    sync_ledger_limits,
)
from services.api.adapters.registry import change_guard, refused_insert
from services.api.adapters.registry_cache import RegistryCache
from services.api.admission import (
    Ask,
    Plan,
    Reservation,
    check_quota,
    free_by_node,
    place,
    release_fields,
    reserved_by_node,
    reserved_gpus,
)
from services.api.records import ModelRecord, StoredModel
from shared.errors import AdmissionBusyError, InsufficientResourcesError, JanModelsError
from shared.names import Collection
from shared.queries import StatusReply
from shared.records import WRITE_CONFLICT_CODES, Document
from shared.transactions import (
    CONFLICT_PATIENCE,
    TransactionSessions,
    bulk_write_in_one_commit,
    write_in_transaction,
)

log = logging.getLogger(__name__)
_RELEASED_ON_RUNNING: Final = frozenset({"creating", "deploying"})
"""A new model's reservation is released by the status write that sets it running with
every replica ready (`settling`); the admissions release it only if that write did not
(running with some replicas not ready yet, or after a readmission)."""
_RESERVATION_FIELDS: Final = {
    "_id": 0,
    "public_id": 1,
    "reserved": 1,
    "reservation": 1,
    "status": 1,
    "released_at": 1,
    "generation": 1,
}
"""What the admissions read of a model's reservation (the generation: `_as_read`'s guard)."""
MAX_BATCH: Final = 100
"""Creates judged in one transaction at most."""
FULL_READ_SECONDS: Final = 1.0
"""How long the reservations an admission read may serve the ones after it (`_Known`)."""


_Limits = dict[int, int] | None
"""Organization id -> GPU limit, as the ledger holds them (None: it holds none yet)."""


class QuotaLimits:
    """Every organization's GPU limit, read again every `interval` seconds, for metrics
    (a scrape cannot wait on MongoDB). Admission itself always reads the limit afresh.

    Polled, not followed by a change stream as the registry cache is: on the embedded
    server every write anywhere ends an idle stream's getMore, so a stream on this
    rarely-written collection was asked again after each of a create's writes (getMores
    per create 9.3 -> 19.7, about 13 ms more CPU a create across the api and the server)."""

    def __init__(self, db: AsyncDatabase[Document], *, interval: float = 10.0) -> None:
        self._db = db
        self.interval = interval
        self.limits: dict[int, int] = {}

    async def refresh(self) -> None:
        self.limits = await read_limits(self._db, None)

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except PyMongoError as exc:
                log.warning("quota limits not read", extra={"error": str(exc)})
            await asyncio.sleep(self.interval)


@dataclass(frozen=True, slots=True)
class _Request:
    """One create waiting for its turn in a group-committed admission."""

    build: Callable[[Plan], Document]
    organization_id: int
    ask: Ask
    quota_gpus: int
    cluster: Callable[[], Awaitable[StatusReply]]
    min_vram_bytes: int


@dataclass(slots=True)
class _Outstanding:
    """The reservations an admission plans around, as one read of the `reserved` index
    found them."""

    reservations: list[Reservation] = field(default_factory=list)
    unreleased: dict[str, Document] = field(default_factory=dict)
    """The ones not yet given a `released_at`: public id to the model as read (a guard)."""
    over: list[Document] = field(default_factory=list)
    """The ones still marked `reserved` whose reservation holds nothing any more, as read."""
    ends: dict[str, datetime] = field(default_factory=dict)
    """Public id -> the end of its grace, for the released ones."""

    def holding(self, now: datetime) -> list[Reservation]:
        """The reservations that may still hold GPUs at `now` (a grace may have ended)."""
        return [
            reservation
            for reservation in self.reservations
            if (end := self.ends.get(reservation.public_id)) is None or end >= now
        ]


@dataclass(slots=True)
class _Known:
    """Every reservation as of the ledger's `seq`: what this process's last admission
    read (`read_at`, monotonic) and what it and the admissions after it inserted. While
    the ledger is still at `seq` when the next admission takes it, no other admission ran
    in between (every admission takes the ledger in its transaction), so nothing was
    reserved that this does not hold: the next one plans on it without reading the
    reservations again. A reservation released, failed or deleted since still counts here
    (on the safe side) until the next read, at most `FULL_READ_SECONDS` later."""

    seq: int
    read_at: float
    outstanding: _Outstanding


@dataclass(slots=True)
class _Judged:
    """What one transaction decided for its batch: an outcome per request, in order (a
    stored model, or the refusal for that request alone), and the reservations it read."""

    outcomes: list[StoredModel | BaseException]
    reservations: _Outstanding
    status: StatusReply


class _Refused(Exception):  # noqa: N818 (not an error to anyone outside this module)
    """An insert of the batch failed alone (a taken name or public id): that request gets
    `error`, the transaction is aborted, and the others are judged again without it."""

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


class Admissions:
    """Group commit: the creates that arrive while one admission transaction runs are
    judged together in the next one, against one inventory status and one read of the
    reservations, each planned on what the ones before it in the batch left free, and
    inserted by one command. The cost of a transaction (ledger write, reservations scan,
    commit) is paid per batch instead of per create, so the rate grows with the load."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        transactions: TransactionSessions | None = None,
        max_batch: int = MAX_BATCH,
        cache: RegistryCache | None = None,
        full_read_seconds: float = FULL_READ_SECONDS,
    ) -> None:
        self._client = db.client
        self._db = db
        self._cache = cache
        """What `/status` reads while it is ready: the admissions themselves always read
        MongoDB, in their transaction."""
        self._models = db[Collection.MODELS]
        self._ledger = db[Collection.ADMISSIONS]
        self._transactions = transactions
        self._ledger_exists = False
        self._batches: GroupCommit[_Request, StoredModel] = GroupCommit(
            self._admit_batch, max_batch=max_batch, settle=self._settle_batch
        )
        self._to_release: _Judged | None = None
        """The last batch's reservations, released once its creates have their answers."""
        self._known: _Known | None = None
        self._full_read_seconds = full_read_seconds
        self.reads = 0
        """How many admissions read the reservations (for tests and profiles)."""

    @property
    def batches(self) -> int:
        """How many group commits ran (for tests and profiles)."""
        return self._batches.batches

    @property
    def idle(self) -> bool:
        """No admission runs and no release of one is pending (for tests)."""
        return self._batches.idle

    async def admit(
        self,
        build: Callable[[Plan], Document],
        *,
        organization_id: int,
        ask: Ask,
        quota_gpus: int,
        cluster: Callable[[], Awaitable[StatusReply]],
        min_vram_bytes: int,
    ) -> StoredModel:
        """The stored model, built by `build` from its plan; `GpuQuotaExceededError` (403),
        `InsufficientResourcesError` (400) or `ModelNameTakenError` (409) store nothing.

        `cluster` is asked for the inventory's status in this admission's turn, right
        before its transaction: a status read before a queue of admissions would be old
        by the time the last of them plans with it. A caller cancelled while its batch
        runs does not take its create back: the model may be stored anyway."""
        request = _Request(build, organization_id, ask, quota_gpus, cluster, min_vram_bytes)
        return await self._batches.submit(request)

    async def _admit_batch(self, requests: list[_Request]) -> list[StoredModel | BaseException]:
        """One outcome per request. A request whose insert fails alone is answered and the
        rest judged again; a conflict (another replica's admission) judges them all again."""
        await self._ensure_ledger()
        outcomes: dict[int, StoredModel | BaseException] = {}
        waiting = list(range(len(requests)))
        began = time.monotonic()
        deadline = began + CONFLICT_PATIENCE
        timings = {"turn": 0.0, "status": 0.0, "transaction": 0.0, "conflicts": 0}
        for attempt in itertools.count():
            if not waiting:
                break
            batch = [requests[index] for index in waiting]
            try:
                asked = time.monotonic()
                async with self._session() as session:
                    started = time.monotonic()
                    judged = await self._judge_in_transaction(session, batch, timings)
                timings["turn"] += started - asked
                timings["transaction"] += time.monotonic() - started
            except _Refused as refused:
                outcomes[waiting.pop(refused.index)] = refused.error
                continue
            except OperationFailure as exc:
                if not _conflict(exc):
                    raise
                timings["conflicts"] += 1
                if time.monotonic() > deadline:
                    raise AdmissionBusyError from exc
                backoff = min(0.2, 0.005 * (attempt + 1))
                await asyncio.sleep(random.uniform(0, backoff))  # noqa: S311
                continue
            outcomes.update(zip(waiting, judged.outcomes, strict=True))
            timings["reservations"] = len(judged.reservations.reservations)
            timings["unreleased"] = len(judged.reservations.unreleased)
            timings["over"] = len(judged.reservations.over)
            self._to_release = judged
            break
        log.info(
            "admission batch",
            extra={"creates": len(requests), "seconds": round(time.monotonic() - began, 3)}
            | {key: round(value, 3) for key, value in timings.items()},
        )
        return [outcomes[index] for index in range(len(requests))]

    async def _settle_batch(self) -> None:
        """After a batch's creates have their answers, in its turn: its releases."""
        judged, self._to_release = self._to_release, None
        if judged is not None:
            await self._release_bound(judged.reservations, judged.status)

    async def _judge_in_transaction(
        self, session: AsyncClientSession, batch: list[_Request], timings: dict[str, float]
    ) -> _Judged:
        """The status is asked in this admission's turn (`cluster`, which may answer with
        one asked a moment ago), before the transaction: a slow inventory must not keep the
        ledger written and uncommitted, which every other admission conflicts on."""
        started = time.monotonic()
        status = await batch[0].cluster()
        timings["status"] += time.monotonic() - started
        known, self._known = self._known, None  # kept again only once this one commits
        lap = _Laps(timings)
        async with await session.start_transaction():
            seq, limits = await self._take_ledger(session)
            lap("ledger")
            if (
                known is not None
                and known.seq + 1 == seq
                and time.monotonic() - known.read_at < self._full_read_seconds
            ):
                read_at = known.read_at
                reservations = _Outstanding(
                    known.outstanding.holding(datetime.now(UTC)),
                    ends=known.outstanding.ends,
                )
            else:
                read_at = time.monotonic()
                reservations = await self._reservations(session)
                self.reads += 1
            lap("reserved_read")
            judged = await self._judge_batch(session, batch, status, reservations, limits)
            lap("judge")
        lap("commit")
        self._known = _Known(seq, read_at, _with_admitted(reservations, judged))
        return judged

    async def _take_ledger(self, session: AsyncClientSession) -> tuple[int, _Limits]:
        """The admission's first statement: the ledger's `seq` after its increment, and
        every organization's GPU limit (see `adapters/quotas.py`). Two admissions that
        overlap both write it, so one of them conflicts; so does a change of quota."""
        ledger = await self._ledger.find_one_and_update(
            {"_id": LEDGER_ID},
            {"$inc": {"seq": 1}},
            projection={"seq": 1, "limits": 1},
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if ledger is None:  # removed meanwhile: the next admission writes it again
            self._ledger_exists = False
            raise RuntimeError("the admission ledger is missing")
        return int(ledger["seq"]), ledger_limits(ledger)

    async def _judge_batch(
        self,
        session: AsyncClientSession,
        batch: list[_Request],
        status: StatusReply,
        reservations: _Outstanding,
        limits: _Limits,
    ) -> _Judged:
        """Quota and placement of each create on what the ones before it left, and the
        admitted ones inserted (the transaction's last statement)."""
        reserved = reserved_by_node(reservations.reservations, status.bound_gpus)
        free = free_by_node(status.placement, reserved)
        usage: dict[int, tuple[int | None, int]] = {}
        outcomes: list[Document | BaseException] = []
        stored: list[tuple[int, Document]] = []
        for index, request in enumerate(batch):
            organization = request.organization_id
            if organization not in usage:
                usage[organization] = await self._usage_if_limited(organization, session, limits)
            try:
                document = self._judge(request, status, free, usage)
            except JanModelsError as exc:
                outcomes.append(exc)
                continue
            outcomes.append(document)
            stored.append((index, document))
        await self._insert(session, stored)  # the last statement: see `_release_bound`
        return _Judged(
            [
                outcome
                if isinstance(outcome, BaseException)
                else StoredModel.from_document(outcome)
                for outcome in outcomes  # each inserted document now has its `_id`
            ],
            reservations,
            status,
        )

    def _judge(
        self,
        request: _Request,
        status: StatusReply,
        free: dict[str, int],
        usage: dict[int, tuple[int | None, int]],
    ) -> Document:
        """Quota then placement for one request, on what the batch left so far; takes
        what it admits from `free` and `usage`."""
        limit, used = usage[request.organization_id]
        check_quota(
            organization_id=request.organization_id,
            limit=limit,
            used=used,
            requested=request.quota_gpus,
        )
        plan = place(request.ask, status.placement, free)
        if plan is None:
            raise InsufficientResourcesError(
                min_gpus=request.ask.gpus, min_vram_bytes=request.min_vram_bytes
            )
        document = request.build(plan)
        for node, gpus in plan:
            free[node] -= gpus
        usage[request.organization_id] = (limit, used + request.quota_gpus)
        return document

    async def _insert(
        self, session: AsyncClientSession, stored: list[tuple[int, Document]]
    ) -> None:
        if not stored:
            return
        documents = [document for _, document in stored]
        try:
            await self._models.insert_many(documents, ordered=True, session=session)
        except (BulkWriteError, DuplicateKeyError) as exc:
            if (refused := refused_insert(exc, documents)) is None:
                raise
            position, error = refused
            raise _Refused(stored[position][0], error) from exc

    async def readmit(
        self,
        model: StoredModel,
        changes_for: Callable[[Plan], Document],
        *,
        ask: Ask,
        surge: int,
        quota_gpus: int,
        cluster: Callable[[], Awaitable[StatusReply]],
        min_vram_bytes: int,
    ) -> StoredModel | None:
        """A change that adds GPUs (more per replica, more replicas, a higher maximum, or
        a rollout's surge pod), judged as a create is and stored in the same transaction:
        the quota for what it adds, then a plan of its replicas on what is free plus the
        GPUs its own bound pods hold (they are the ones being replaced or kept), and the
        `surge` extra pods on what is free without them (the old pods still run beside).
        The model after the change, or None when it changed meanwhile (judge again)."""
        await self._ensure_ledger()
        deadline = time.monotonic() + CONFLICT_PATIENCE
        for attempt in itertools.count():
            try:
                async with self._session() as session:
                    status = await cluster()
                    async with await session.start_transaction():
                        _, limits = await self._take_ledger(session)
                        plan = await self._replan(
                            model,
                            session,
                            status,
                            ask=ask,
                            surge=surge,
                            quota_gpus=quota_gpus,
                            limits=limits,
                        )
                        if plan is None:
                            raise InsufficientResourcesError(
                                min_gpus=ask.gpus, min_vram_bytes=min_vram_bytes
                            )
                        updated = await self._models.find_one_and_update(
                            change_guard(model),
                            {"$set": changes_for(plan)},
                            return_document=ReturnDocument.AFTER,
                            session=session,
                        )
                return None if updated is None else StoredModel.from_document(updated)
            except OperationFailure as exc:
                if not _conflict(exc):
                    raise
                if time.monotonic() > deadline:
                    raise AdmissionBusyError from exc
                await asyncio.sleep(random.uniform(0, min(0.2, 0.005 * (attempt + 1))))  # noqa: S311
        raise AssertionError("unreachable")  # pragma: no cover

    async def _replan(
        self,
        model: StoredModel,
        session: AsyncClientSession,
        status: StatusReply,
        *,
        ask: Ask,
        surge: int,
        quota_gpus: int,
        limits: _Limits,
    ) -> Plan | None:
        organization_id, public_id = model.record.organization_id, model.record.public_id
        added = quota_gpus - model.record.quota_gpus
        if added > 0:
            limit, used = await self._usage_if_limited(organization_id, session, limits)
            if limit is not None:
                check_quota(
                    organization_id=organization_id, limit=limit, used=used, requested=added
                )
        outstanding = await self._reservations(session)
        others = [r for r in outstanding.reservations if r.public_id != public_id]
        free = free_by_node(status.placement, reserved_by_node(others, status.bound_gpus))
        surge_plan = place(replace(ask, replicas=surge), status.placement, free) if surge else []
        if surge_plan is None:
            return None
        for node, gpus in surge_plan:
            free[node] -= gpus
        for node, gpus in status.bound_gpus.get(public_id, {}).items():
            if node in free:
                free[node] += gpus
        plan = place(ask, status.placement, free)
        return None if plan is None else [*plan, *surge_plan]

    async def _usage_if_limited(
        self, organization_id: int, session: AsyncClientSession, limits: _Limits
    ) -> tuple[int | None, int]:
        """The limit and, when there is one, the GPUs used (unlimited: the sum decides
        nothing). The limit from the ledger as the admission took it, when it has them."""
        if limits is not None:
            limit = limits.get(organization_id)
        else:
            limit = await self._limit(organization_id, session)
        return limit, 0 if limit is None else await self._used(organization_id, session)

    async def reserved(self) -> list[Reservation]:
        """Every reservation that may still hold GPUs (for `/status`): from the registry
        cache while it is ready, by the same rule as the admission's query."""
        if self._cache is None or not self._cache.ready:
            return (await self._reservations(None)).reservations
        return _cached(self._cache, datetime.now(UTC), read=set())

    async def usage(self, organization_id: int) -> tuple[int | None, int]:
        """The organization's GPU limit (None: unlimited) and the GPUs its models count:
        the limit read by its key, the count from the registry cache while it is ready.
        Summing it in MongoDB scans every model of the organization on the embedded
        server (about 60 ms a `/status` at 1,000 models; the cache keeps the sum)."""
        if self._cache is None or not self._cache.ready:
            return await self._quota(organization_id, None)
        return await self._limit(organization_id, None), self._cache.quota_used(organization_id)

    async def _reservations(self, session: AsyncClientSession | None) -> _Outstanding:
        """The reservations that may still hold GPUs. The ones not yet released are read
        in the admission's transaction through the `reserved` index alone (a filter on
        more fields makes the embedded server scan every model); the rule
        (`reserved_gpus`) is applied here, and what it rules out (a failed model's, or a
        reservation released before releases left the index, its grace over) is noted
        for `_release_bound` to take out of the index. The released ones still in their
        grace are added by `_released`, so the read grows with the models not yet bound,
        not with every model admitted in the last `RELEASE_GRACE`."""
        now = datetime.now(UTC)
        outstanding = _Outstanding()
        cursor = self._models.find(
            {"reserved": True},
            _RESERVATION_FIELDS,
            session=session,
        )
        read: set[str] = set()
        async for document in cursor:
            public_id = document["public_id"]
            read.add(public_id)
            if not reserved_gpus(document, now=now):
                outstanding.over.append(_as_read(document))
                continue
            outstanding.reservations.append(Reservation(public_id, _plan(document)))
            if (released_at := document.get("released_at")) is None:
                outstanding.unreleased[public_id] = _as_read(document)
            else:
                outstanding.ends[public_id] = _utc(released_at)
        outstanding.reservations += await self._released(now, read, session, outstanding.ends)
        return outstanding

    async def _released(
        self,
        now: datetime,
        read: set[str],
        session: AsyncClientSession | None,
        ends: dict[str, datetime],
    ) -> list[Reservation]:
        """The reservations released less than `RELEASE_GRACE` ago and not in `read`.

        From the registry cache while it is ready: a release changes no plan and frees
        nothing a racing admission could take (it counts only where the status does not
        show the pods bound), so it need not be read in the transaction. A model the
        cache still shows unreleased that the transaction did not read was released (or
        failed) a moment ago, and counts until the cache catches up: on the safe side.
        Until the cache is ready, by a scan of `released_at` (no index: only then)."""
        if self._cache is not None and self._cache.ready:
            return _cached(self._cache, now, read, ends)
        cursor = self._models.find(
            {"released_at": {"$gte": now}},
            _RESERVATION_FIELDS,
            session=session,
        )
        released = []
        async for document in cursor:
            public_id = document["public_id"]
            if public_id not in read and reserved_gpus(document, now=now):
                released.append(Reservation(public_id, _plan(document)))
                ends[public_id] = _utc(document["released_at"])
        return released

    async def _quota(
        self, organization_id: int, session: AsyncClientSession | None
    ) -> tuple[int | None, int]:
        return (
            await self._limit(organization_id, session),
            await self._used(organization_id, session),
        )

    async def _limit(self, organization_id: int, session: AsyncClientSession | None) -> int | None:
        """The limit the admissions enforce: the ledger's (`adapters/quotas.py`), or the
        quota collection's while the ledger holds none yet."""
        limits = await read_limits(self._db, session)
        return limits.get(organization_id)

    async def _used(self, organization_id: int, session: AsyncClientSession | None) -> int:
        cursor = self._models.find(
            {"organization_id": organization_id, "quota_gpus": {"$gt": 0}},
            {"_id": 0, "quota_gpus": 1},
            session=session,
        )
        return sum([int(document["quota_gpus"]) async for document in cursor])

    async def _release_bound(self, outstanding: _Outstanding, status: StatusReply) -> None:
        """Release the reservations whose pods are all bound, so that admissions stop
        reading them: one write marks each no longer `reserved` (out of the index the
        admissions read) and gives it `released_at`, the end of its `RELEASE_GRACE`.
        Through the grace it still counts wherever the status does not show its pods
        bound, for an admission planning with a status from before the inventory saw them
        bound (each reads its status in its own turn); `_released` finds it. The ones a
        failed model holds leave the index the same way. Only the ones not yet released
        are written, each guarded by the model as the admission read it (a change since,
        such as a readmission, keeps its new reservation).

        After the admission's commit, in a transaction of its own whose one command is
        its only write to the models: never a further statement of the admission's. A
        plain write (an outbox clear, a status update) that meets a transaction's
        uncommitted write is retried by the embedded server while it holds the collection,
        so any later statement of that transaction on the models waits behind it, and
        every insert with them, for good: the server does not reap a transaction while
        one of its statements waits (`tests/api/test_transaction_statements.py`). A
        release that fails is left to the next admission."""
        held = {reservation.public_id: reservation for reservation in outstanding.reservations}
        release = {"$set": release_fields(now=datetime.now(UTC))}
        writes = [
            UpdateOne(guard, release)
            for public_id, guard in outstanding.unreleased.items()
            if guard["status"] not in _RELEASED_ON_RUNNING
            and not reserved_by_node([held[public_id]], status.bound_gpus)
        ]
        writes += [UpdateOne(guard, {"$set": {"reserved": False}}) for guard in outstanding.over]
        if not writes:
            return
        try:
            await bulk_write_in_one_commit(self._models, writes, self._transactions)
        except PyMongoError as exc:
            log.warning("reservations not released", extra={"error": str(exc)})

    async def _ensure_ledger(self) -> None:
        """The ledger, with every organization's limit (a ledger from before limits were
        kept there gets them from the quota collection, once)."""
        if self._ledger_exists:
            return
        with contextlib.suppress(DuplicateKeyError):
            await write_in_transaction(  # the ledger is written in transactions only
                self._ledger,
                lambda session: self._ledger.update_one(
                    {"_id": LEDGER_ID}, {"$setOnInsert": {"seq": 0}}, upsert=True, session=session
                ),
                self._transactions,
            )
        if await self._ledger.count_documents({"_id": LEDGER_ID, "limits": {"$exists": True}}):
            self._ledger_exists = True
            return

        async def fill(session: AsyncClientSession | None) -> None:
            ledger = await self._ledger.find_one({"_id": LEDGER_ID}, session=session)
            if ledger is None or "limits" not in ledger:  # not filled meanwhile
                await sync_ledger_limits(self._db, session)

        await write_in_transaction(self._ledger, fill, self._transactions)
        self._ledger_exists = True

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncClientSession]:
        if self._transactions is not None:
            async with self._transactions.session() as session:
                yield session
        else:
            async with self._client.start_session() as session:
                yield session


class _Laps:
    """Adds the seconds since the last lap to `timings[name]` (the batch's log line)."""

    def __init__(self, timings: dict[str, float]) -> None:
        self._timings = timings
        self._last = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        self._timings[name] = self._timings.get(name, 0.0) + now - self._last
        self._last = now


def _with_admitted(reservations: _Outstanding, judged: _Judged) -> _Outstanding:
    """The reservations an admission planned around, and the ones it stored."""
    admitted = [
        _reservation_of(outcome.record)
        for outcome in judged.outcomes
        if isinstance(outcome, StoredModel) and outcome.record.reservation
    ]
    return _Outstanding([*reservations.reservations, *admitted], ends=reservations.ends)


def _conflict(exc: OperationFailure) -> bool:
    return exc.has_error_label("TransientTransactionError") or exc.code in WRITE_CONFLICT_CODES


def _cached(
    cache: RegistryCache, now: datetime, read: set[str], ends: dict[str, datetime] | None = None
) -> list[Reservation]:
    """The registry cache's reservations that may hold GPUs at `now`, but those in `read`
    (each one's grace end noted in `ends`, when given)."""
    reservations = []
    for record in cache.reserving(now):
        if record.public_id in read:
            continue
        reservations.append(_reservation_of(record))
        if ends is not None and record.released_at is not None:
            ends[record.public_id] = _utc(record.released_at)
    return reservations


def _reservation_of(record: ModelRecord) -> Reservation:
    return Reservation(record.public_id, [(entry.node, entry.gpus) for entry in record.reservation])


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _plan(document: Document) -> Plan:
    return [(entry["node"], int(entry["gpus"])) for entry in document["reservation"]]


def _as_read(document: Document) -> Document:
    """Matches a reserved model only as the admission read it."""
    return {
        "public_id": document["public_id"],
        "generation": document.get("generation"),
        "status": document.get("status"),
        "reserved": True,
        "released_at": document.get("released_at"),
    }
