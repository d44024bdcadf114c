"""Several document writes, one commit: a bulk write inside a multi-document transaction,
run in a session that a killed process cannot leave holding documents for long.

Every statement of a bulk write is a transaction of its own and pays its own commit: on
the embedded MongoDB-compatible server (which syncs its log on every commit, so that an
acknowledged write survives a crash) that commit is a large share of what an update
costs. Inside one transaction the statements share one commit, and either all of them
are stored or none is. A server without transactions (a standalone mongod) gets the
plain unordered bulk write, statement by statement, as before.

A process killed between a transaction's first write and its commit leaves the
transaction open, and it holds its documents until the server reaps it (mongod's
`transactionLifetimeLimitSeconds`, 60 s; SecantusDB reaps an idle one after about as
long): every other write to them waits or conflicts meanwhile, so a restarted api's
status updates stall and a DELETE on such a model hangs. `TransactionSessions` bounds
that to a lease:

- each process runs its transactions in a few long-lived sessions (one transaction at a
  time in each), and registers them in the `transaction_sessions` collection as
  `{_id: <random owner id>, lsid: <the first>, lsids: [<session ids>], service,
  heartbeat_at, beats}`;
- a background task renews `heartbeat_at` every `heartbeat_seconds`, in the server's
  clock (`$currentDate`), so the hosts' clocks never matter; a renewal that finds its
  record gone (swept) writes it again;
- on start and at every heartbeat, each process sweeps: the records whose heartbeat is
  older than `lease_seconds` before the sweeper's own heartbeat (server time against
  server time, `$$NOW` being beyond the embedded server) are dead owners, whose
  sessions it kills (`killSessions` aborts what they left open) before deleting the
  record (only if it was not renewed meanwhile). Killing is idempotent, so several
  replicas sweeping at once is harmless, and a sweeper that dies between the kill and
  the delete leaves the record for the next sweep;
- a clean shutdown ends the sessions and deletes its record.

The heartbeat (3 s), the lease (15 s) and the number of sessions are `TransactionSessions`
arguments. The api, whose every write to its models is a transaction, runs four, so that
an admission, a status batch, an outbox clear and a request's own write need not wait
for each other; the inventory one, its memory and projection writes taking turns.

A live owner renews its record every few seconds and the lease is several heartbeats
long, so only an owner stalled for a whole lease can be swept; then its open
transaction, if any, fails (the caller retries as it would any failed write), its
session stays usable, and its next renewal registers it again. A transaction left open
by a killed process is thus aborted within a lease plus a heartbeat of its death, as
long as one process of any service runs. Every transaction of every service runs this
way: the api's status batches and group commits, the inventory's lifecycle memories and
its projection writes.

A collection is written in transactions only, or never in one. The embedded server
retries a plain write that meets a transaction's uncommitted write, unboundedly, while it
holds the collection; a transaction's statement on that collection then waits for the
collection while holding its transaction, and the server's reaper, which every
statement, commit and abort runs under one server-wide lock, waits for that transaction:
no transaction anywhere can commit again, the one the plain write waits for included, and
the server stays wedged for good (`tests/api/test_transaction_statements.py`). Inside a
transaction a conflict is an error at once instead, which `write_in_transaction` retries
after a pause, outside the session's turn. So every write to the api's `models` and the
admission ledger, and to the inventory's projections and memories, is a transaction, a
single statement being one of its own.
"""

import asyncio
import contextlib
import itertools
import logging
import random
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from pymongo import (
    DeleteMany,
    DeleteOne,
    InsertOne,
    ReplaceOne,
    ReturnDocument,
    UpdateMany,
    UpdateOne,
)
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError, ConnectionFailure, OperationFailure, PyMongoError
from pymongo.results import BulkWriteResult

from shared.names import Collection
from shared.records import ILLEGAL_OPERATION, WRITE_CONFLICT_CODES, Document
from shared.tasks import cancel_and_wait

log = logging.getLogger(__name__)
Write = InsertOne[Any] | UpdateOne | UpdateMany | ReplaceOne[Any] | DeleteOne | DeleteMany
T = TypeVar("T")
_UNKNOWN_COMMIT: Final = "UnknownTransactionCommitResult"
_COMMANDS: Final[dict[type[Any], str]] = {
    InsertOne: "insert",
    UpdateOne: "update",
    UpdateMany: "update",
    ReplaceOne: "update",
    DeleteOne: "delete",
    DeleteMany: "delete",
}
CONFLICT_PATIENCE: Final = 30.0
"""Seconds a write keeps retrying conflicts: longer than a dead process's transaction
lives (a lease and a heartbeat)."""
# Clients of a server that answered "Transaction numbers are only allowed on a replica set
# member or mongos": their writes go plain.
_without_transactions: "weakref.WeakSet[Any]" = weakref.WeakSet()
HEARTBEAT_SECONDS: Final = 3.0
LEASE_SECONDS: Final = 15.0
CLOSE_SECONDS: Final = 10.0
"""How long `close` waits for the sessions in use to come back before it ends them."""


class TransactionSessions:
    """This process's transaction sessions (`size` of them, so that as many transactions
    can run at once), registered and heart-beaten so that another process can kill them
    once this one is dead (see the module docstring)."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        service: str,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        size: int = 1,
    ) -> None:
        if lease_seconds < 2 * heartbeat_seconds:
            raise ValueError("the lease must span several heartbeats")
        if size < 1:
            raise ValueError("at least one session")
        self.db = db
        self.records = db[Collection.TRANSACTION_SESSIONS]
        self.service = service
        self.owner = uuid.uuid4().hex
        self.heartbeat_seconds = heartbeat_seconds
        self.lease_seconds = lease_seconds
        self.swept = 0
        self.size = size
        self._sessions: list[AsyncClientSession] = []
        self._free: asyncio.Queue[AsyncClientSession] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Register this process's sessions, sweep the dead owners' ones, then keep beating."""
        self._sessions = [self.db.client.start_session() for _ in range(self.size)]
        for session in self._sessions:
            self._free.put_nowait(session)
        await self.sweep(await self._beat())
        self._task = asyncio.create_task(self._run(), name=f"transaction-sessions-{self.service}")

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        sessions, self._sessions = self._sessions, []
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                for _ in sessions:  # each once its transaction is over
                    await self._free.get()
        except TimeoutError:  # a task that outlived its stop still holds one: end it anyway
            log.warning("ending transaction sessions still in use")
        for session in sessions:
            with contextlib.suppress(PyMongoError):
                await session.end_session()
        with contextlib.suppress(PyMongoError):
            await self.records.delete_one({"_id": self.owner})

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncClientSession]:
        """A registered session, for one transaction; waits while all of them are in one."""
        if not self._sessions:
            raise RuntimeError("TransactionSessions is not started")
        session = await self._free.get()
        try:
            yield session
        finally:
            self._free.put_nowait(session)

    async def sweep(self, now: datetime | None = None) -> int:
        """Kill the sessions of the owners whose lease ran out; returns how many. `now` is
        the server's time, as this owner's last heartbeat read it (a heartbeat if None)."""
        if now is None:
            now = await self._beat()
        expired = {
            "_id": {"$ne": self.owner},
            "heartbeat_at": {"$lt": now - timedelta(seconds=self.lease_seconds)},
        }
        dead = [record async for record in self.records.find(expired)]
        if not dead:
            return 0
        try:
            lsids = [lsid for record in dead for lsid in record.get("lsids") or [record["lsid"]]]
            await self.db.client.admin.command("killSessions", lsids)
        except OperationFailure as exc:
            log.warning("dead owners' sessions not killed", extra={"error": str(exc)})
            return 0
        for record in dead:
            await self.records.delete_one(
                {"_id": record["_id"], "heartbeat_at": record["heartbeat_at"]}
            )
        self.swept += len(dead)
        log.warning(
            "killed the transaction sessions of dead owners",
            extra={"owners": [(r["_id"], r.get("service")) for r in dead]},
        )
        return len(dead)

    async def _beat(self) -> datetime:
        """Renew this owner's record (register it again if it was swept); returns the
        server's time of the renewal."""
        if not self._sessions:
            raise RuntimeError("TransactionSessions is not started")
        lsids = [session.session_id for session in self._sessions]
        record = await self.records.find_one_and_update(
            {"_id": self.owner},
            {
                "$set": {"lsid": lsids[0], "lsids": lsids, "service": self.service},
                "$currentDate": {"heartbeat_at": True},
                "$inc": {"beats": 1},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if record is None:  # an upsert returning the document after it: never None
            raise RuntimeError("heartbeat found no record")
        if record["beats"] == 1 and self._task is not None:
            log.warning("transaction session was swept; registered again")
        heartbeat: datetime = record["heartbeat_at"]
        return heartbeat

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.sweep(await self._beat())
            except PyMongoError as exc:
                log.warning("transaction session heartbeat failed", extra={"error": str(exc)})


async def write_in_transaction(
    collection: AsyncCollection[Any],
    write: Callable[[AsyncClientSession | None], Awaitable[T]],
    sessions: TransactionSessions | None = None,
    *,
    patience: float = CONFLICT_PATIENCE,
) -> T:
    """`write(session)` (one statement on `collection`, or the last of several) in a
    transaction of its own, committed before this returns; a write conflict (another
    transaction holds a document) or a lost connection before the commit is retried after
    a short random pause, outside the session's turn, for `patience` seconds, then
    raised. Any other failure is raised at once, with nothing written. A server without
    transactions gets `write(None)`, plain.

    The transaction runs in `sessions`' registered session, taking its turn; without one
    (one-off tools, tests) in a session of its own."""
    client = collection.database.client
    deadline = time.monotonic() + patience
    for attempt in itertools.count():
        if client in _without_transactions:
            return await write(None)
        try:
            if sessions is not None:
                async with sessions.session() as session:
                    return await _once(write, session)
            async with client.start_session() as session:
                return await _once(write, session)
        except (ConfigurationError, OperationFailure) as exc:
            if isinstance(exc, ConfigurationError) or exc.code == ILLEGAL_OPERATION:
                _without_transactions.add(client)
                continue
            if exc.code not in WRITE_CONFLICT_CODES or time.monotonic() >= deadline:
                raise
        except ConnectionFailure as exc:
            # What a plain write's automatic retry rode through (a restarting server): the
            # transaction again, unless its commit may have landed (then that is unknown).
            if exc.has_error_label(_UNKNOWN_COMMIT) or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(random.uniform(0, min(0.2, 0.005 * (attempt + 1))))  # noqa: S311
    raise AssertionError("unreachable")  # pragma: no cover


async def _once(
    write: Callable[[AsyncClientSession | None], Awaitable[T]], session: AsyncClientSession
) -> T:
    async with await session.start_transaction():
        return await write(session)


async def bulk_write_in_one_commit(
    collection: AsyncCollection[Any],
    operations: Sequence[Write],
    sessions: TransactionSessions | None = None,
) -> BulkWriteResult:
    """All of `operations` or none of them: any failure aborts the transaction and is
    raised, a write conflict too (the caller retries as it would any failed write; the
    embedded server labels even a duplicate key transient, so nothing retries here).

    The operations must all be of one command (inserts, updates or deletes): the
    transaction then writes the collection in one statement, its last before the
    commit. A plain write that meets a transaction's uncommitted write is retried by the
    embedded server while it holds the collection, so a second statement of that
    transaction on the collection would wait behind it, and every other write with it,
    for good: the server does not reap a transaction while one of its statements waits
    (`ValueError` otherwise; `tests/api/test_transaction_statements.py` shows the server
    doing so).

    The transaction runs in `sessions`' registered session; without one (one-off tools,
    tests) in a session of its own that nobody could kill if this process died in it."""
    if len({_COMMANDS[type(operation)] for operation in operations}) > 1:
        raise ValueError("one transaction, one command: inserts, updates or deletes alone")
    return await write_in_transaction(
        collection,
        lambda session: collection.bulk_write(list(operations), ordered=False, session=session),
        sessions,
        patience=0,  # a conflict is the caller's to retry
    )
