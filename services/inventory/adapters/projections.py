"""Writes the in-memory store's changes to the `inventory_*` collections.

Only this service writes them. Changes are coalesced (a key is written once per flush
with its latest state) and sent as unordered `bulk_write` batches of `UpdateOne` upserts.
Writes from watch events are guarded by resourceVersion: the filter matches only a
document at an older or equal version, so a stale write finds no document, its upsert
collides on `_id`, and that duplicate-key error is the stale write losing, not a failure.
Writes after a fresh list are not guarded (the list is the truth, and a reset cluster
starts its versions again), and documents whose object is gone are deleted: that is how
a restart or a 410 reconciles deletions. (The guard is one `rv` comparison beside the
`_id`: an `$or` in the filter costs the MongoDB-compatible test server a full scan.)

Each batch is sent inside one transaction (`shared.transactions`): the server then
commits (and syncs its journal) once per batch instead of once per document, which halves
what a document costs SecantusDB and is what lets the projection keep up with 200
changes/s. A transaction only groups the commits; each write still wins or loses on its
own: when stale writes' duplicate keys abort it, the batch is sent again without them
(they lost). Any other failure is raised and the whole flush is retried after a back-off
(every write is idempotent). A server without transactions (a standalone mongod) gets
plain batches.

The transactions run in the process's registered session (`TransactionSessions`), the
one mechanism every service uses: a transaction left open by a killed inventory stops
holding its documents once that process's lease runs out, whichever process sweeps it.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final

from pymongo import DeleteMany, DeleteOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.inventory import documents
from services.inventory.changes import ProjectionBacklog
from services.inventory.metrics import PROJECTION_LAG, PROJECTION_SIZE
from services.inventory.store import ClusterStore, Watched
from shared.names import Collection
from shared.records import DUPLICATE_KEY_CODES, Document
from shared.transactions import TransactionSessions, bulk_write_in_one_commit

log = logging.getLogger(__name__)

COLLECTIONS: Final[dict[Watched, Collection]] = {
    Watched.NODES: Collection.INVENTORY_NODES,
    Watched.PODS: Collection.INVENTORY_PODS,
    Watched.CRDS: Collection.INVENTORY_CRDS,
    Watched.STORAGE_CLASSES: Collection.INVENTORY_STORAGE_CLASSES,
    Watched.WORKLOADS: Collection.INVENTORY_WORKLOADS,
    Watched.AUTOSCALERS: Collection.INVENTORY_AUTOSCALERS,
}


def _document(store: ClusterStore, kind: Watched, key: str) -> Document | None:
    obj = store.objects[kind].get(key)
    if obj is None:
        return None
    if kind is Watched.NODES:
        return documents.node_document(obj, allocated=store.allocated.get(key, 0))
    if kind is Watched.PODS:
        return documents.pod_document(obj)
    if kind is Watched.WORKLOADS:
        return documents.workload_document(obj, assessment=store.assessment(key))
    if kind is Watched.CRDS:
        return documents.crd_document(obj)
    if kind is Watched.STORAGE_CLASSES:
        return documents.storage_class_document(obj)
    return documents.autoscaler_document(obj)


def upsert(document: Document, *, guarded: bool) -> UpdateOne:
    selector: Document = {"_id": document["_id"]}
    if guarded and document["rv"] is not None:
        selector["rv"] = {"$lte": document["rv"]}
    return UpdateOne(selector, {"$set": document}, upsert=True)


class ProjectionWriter:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        store: ClusterStore,
        *,
        backlog: ProjectionBacklog,
        sessions: TransactionSessions,
        batch_size: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.store = store
        self.backlog = backlog
        self.sessions = sessions
        self.batch_size = batch_size
        self.clock = clock
        self.flushes = 0
        self.stale_writes = 0
        self._turn = asyncio.Lock()

    def pending(self) -> bool:
        return self.backlog.pending()

    async def flush(self) -> int:
        """Write every pending change; returns how many documents were written or removed.
        Flushes take turns, so one flush's batches are never interleaved with another's."""
        async with self._turn:
            return await self._flush()

    async def _flush(self) -> int:
        written = 0
        for kind in COLLECTIONS:
            keys, relisted = self.backlog.take(kind)
            try:
                if relisted:
                    written += await self._reconcile(kind)
                if keys:
                    written += await self._write(kind, keys, guarded=not relisted)
            except Exception:
                self.backlog.put_back(kind, keys, relisted=relisted)
                raise
            PROJECTION_SIZE.labels(kind=kind).set(len(self.store.objects[kind]))
        self.flushes += 1
        return written

    async def _reconcile(self, kind: Watched) -> int:
        collection = self.db[COLLECTIONS[kind]]
        held = set(self.store.objects[kind])
        stale = [
            doc["_id"] async for doc in collection.find({}, {"_id": 1}) if doc["_id"] not in held
        ]
        for start in range(0, len(stale), self.batch_size):
            # In a transaction, as every write to a projection is (see `shared.transactions`).
            batch = stale[start : start + self.batch_size]
            await bulk_write_in_one_commit(
                collection, [DeleteMany({"_id": {"$in": batch}})], self.sessions
            )
        if stale:
            log.info("projection reconciled", extra={"kind": kind, "removed": len(stale)})
        return len(stale)

    async def _write(self, kind: Watched, keys: set[str], *, guarded: bool) -> int:
        collection = self.db[COLLECTIONS[kind]]
        # Upserts and removals in transactions of their own: one command per transaction
        # (see `bulk_write_in_one_commit`).
        upserts: list[UpdateOne | DeleteOne] = []
        removals: list[UpdateOne | DeleteOne] = []
        for key in keys:
            document = _document(self.store, kind, key)
            if document is None:
                removals.append(DeleteOne({"_id": key}))
            else:
                upserts.append(upsert(document, guarded=guarded))
        for group in (upserts, removals):
            for start in range(0, len(group), self.batch_size):
                await self._write_batch(collection, group[start : start + self.batch_size])
        done = self.clock()
        for key in keys:
            received = self.backlog.received_at(kind, key)
            if received is not None:
                PROJECTION_LAG.observe(done - received)
        return len(upserts) + len(removals)

    async def _write_batch(
        self, collection: AsyncCollection[Document], batch: list[UpdateOne | DeleteOne]
    ) -> None:
        while batch:
            try:
                await bulk_write_in_one_commit(collection, batch, self.sessions)
                return
            except BulkWriteError as exc:
                lost = _stale(exc)
                self.stale_writes += len(lost)
                batch = [op for index, op in enumerate(batch) if index not in lost]


def _stale(exc: BulkWriteError) -> set[int]:
    """The indexes of the writes that lost to a newer document; raises on any other error."""
    errors = exc.details.get("writeErrors", [])
    if not errors or any(error.get("code") not in DUPLICATE_KEY_CODES for error in errors):
        raise exc
    return {int(error["index"]) for error in errors}
