"""The model registry in MongoDB: the api's own `models` and `counters` collections.

Every write that changes a model's desired state also records the command to publish
in the document's `outbox` field, in the same single-document write.
Status updates from events are conditional on the generation and event position read,
so a concurrent delete or a second consumer never lets an older view win.

Every write to the models is a transaction (`write_in_transaction`), a single statement
being one of its own: the collection is written in transactions by admissions and status
batches, and the embedded server wedges for good when a plain write meets one (see
`shared.transactions`).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Final, TypeVar

from bson import ObjectId
from pymongo import ASCENDING, DeleteOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteError

from services.api.adapters.group_commit import GroupCommit
from services.api.adapters.registry_cache import RegistryCache
from services.api.documents import delete_entry
from services.api.identifiers import PublicIdCollisionError
from services.api.listing import NO_FILTER, ModelFilter
from services.api.records import ModelDetails, ModelRecord, StoredModel
from services.api.transitions import Status
from shared.errors import ModelNameTakenError
from shared.names import Collection
from shared.records import DUPLICATE_KEY_CODES, WRITE_CONFLICT_CODES, Document
from shared.transactions import (
    TransactionSessions,
    bulk_write_in_one_commit,
    write_in_transaction,
)

_DETAILS: Final = {"_id": 0, "outbox": 0, "hf_token_encrypted": 0, "secret_env_encrypted": 0}
_PUBLIC: Final = {**_DETAILS, "deployment_config": 0}
_IDENTITY: Final = {
    "_id": 0,
    "id": 1,
    "public_id": 1,
    "organization_id": 1,
    "name": 1,
    "namespace": 1,
    "status": 1,
}
"""What every `ModelRecord` holds, so a projection's makes one."""
_LIST: Final = {**_IDENTITY, "display_name": 1, "model_type": 1}
_OWN: Final = {**_IDENTITY, "model_type": 1, "display_name": 1, "description": 1}
_DELETING: Final = {
    "_id": 1,
    "status": 1,
    "generation": 1,
    "outbox": 1,
    "delete_attempt": 1,
    "organization_id": 1,
    "id": 1,
    "public_id": 1,
    "name": 1,
    "namespace": 1,
}
"""What a delete reads and answers with: the identity, the generation and the outbox."""
_COUNTER_ID: Final = "models"
_ID_BLOCK: Final = 50


class CounterUnavailableError(RuntimeError):
    def __init__(self, counter: str) -> None:
        super().__init__(f"counter {counter!r} could not be incremented")


def _id_filter(model: int | str) -> Document:
    """By one unique index alone; the organization is checked on the document found.

    (A compound filter lets some MongoDB-compatible servers pick the organization index
    and scan the whole organization.)
    """
    return {"id": model} if isinstance(model, int) else {"public_id": model}


def _theirs(document: Document | None, organization_id: int) -> Document | None:
    if document is None or document.get("organization_id") != organization_id:
        return None
    return document


def _record(document: Document | None, organization_id: int) -> ModelRecord | None:
    theirs = _theirs(document, organization_id)
    return None if theirs is None else ModelRecord.from_document(theirs)


def _their_record(record: ModelRecord, organization_id: int) -> ModelRecord | None:
    return record if record.organization_id == organization_id else None


_T = TypeVar("_T")


class Registry:
    """Writes go to MongoDB; reads come from the in-memory `cache` once it has loaded,
    from MongoDB before that (or for a model the cache has not seen yet)."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        cache: RegistryCache | None = None,
        transactions: TransactionSessions | None = None,
    ) -> None:
        self._models = db[Collection.MODELS]
        self._transactions = transactions
        self._counters = db[Collection.COUNTERS]
        self._cache = cache
        self._id_lock = asyncio.Lock()
        self._reserved_ids: Iterator[int] = iter(())
        self._counter_exists = False
        self._inserts = GroupCommit[Document, None](self._insert_many)
        self._clears = GroupCommit[tuple[ObjectId, str], None](self._clear_many)

    async def next_id(self) -> int:
        """The next integer id, from a block of `_ID_BLOCK` reserved with one counter write.

        Every create used to spend a write on the counter; on a server where writes are the
        bottleneck that halves create throughput. Ids stay unique across api replicas and
        increase within one; a restart leaves a gap, as a sequence would."""
        async with self._id_lock:
            if (reserved := next(self._reserved_ids, None)) is not None:
                return reserved
            highest = await self._reserve_ids(_ID_BLOCK)
            self._reserved_ids = iter(range(highest - _ID_BLOCK + 1, highest + 1))
            return next(self._reserved_ids)

    async def _reserve_ids(self, count: int) -> int:
        """The counter is created once, by an upsert that increments nothing; every
        reservation is then a plain increment. (An incrementing upsert that loses the race
        to create the counter is ambiguous: the embedded server applies its increment to
        the winner's document and answers "no document", so a retry reserved a block twice.)"""
        if not self._counter_exists:
            with contextlib.suppress(DuplicateKeyError):
                await self._counters.update_one(
                    {"_id": _COUNTER_ID}, {"$setOnInsert": {"seq": 0}}, upsert=True
                )
            self._counter_exists = True
        counter = await self._counters.find_one_and_update(
            {"_id": _COUNTER_ID},
            {"$inc": {"seq": count}},
            return_document=ReturnDocument.AFTER,
        )
        if counter is None:
            self._counter_exists = False  # dropped meanwhile: create it again next time
            raise CounterUnavailableError(_COUNTER_ID)
        return int(counter["seq"])

    async def name_taken(self, *, namespace: str, name: str) -> bool:
        found = await self._models.find_one({"namespace": namespace, "name": name}, {"_id": 1})
        return found is not None

    def remember(self, model: StoredModel) -> None:
        """A model stored by another writer (admission's transaction): read your writes."""
        if (cache := self._ready_cache()) is not None:
            cache.put_model(model)

    async def insert(self, document: Document) -> StoredModel:
        """Stores a new model with its outbox entry; returns it as stored once MongoDB
        acknowledged it.

        Concurrent inserts go out as one unordered `insert_many` (group commit): each
        caller still gets its own answer, a taken name only for the document that has it."""
        await self._inserts.submit(document)
        stored = StoredModel.from_document(document)  # the driver gave it its `_id`
        self.remember(stored)  # read-your-writes, before the change stream brings it
        return stored

    async def _insert_many(self, documents: list[Document]) -> list[BaseException | None]:
        """One transaction for the batch. In a transaction the first failing document
        aborts it, so that document gets its error and the rest are inserted again."""
        outcomes: list[BaseException | None] = [None] * len(documents)
        waiting = list(range(len(documents)))
        while waiting:
            batch = [documents[index] for index in waiting]
            try:
                await self._insert_in_order(batch)
            except (BulkWriteError, DuplicateKeyError) as exc:
                if exc.details and exc.details.get("writeConcernErrors"):
                    raise  # nothing in the batch is known to be durable
                if (refused := refused_insert(exc, batch)) is None:
                    raise
                position, error = refused
                outcomes[waiting.pop(position)] = error
                continue
            break
        return outcomes

    async def _insert_in_order(self, documents: list[Document]) -> None:
        await self._in_transaction(
            lambda session: self._models.insert_many(documents, ordered=True, session=session)
        )

    async def _set_if(self, guard: Document, changes: Document) -> Document | None:
        """`$set` the model that matches `guard`; what `_DELETING` projects of it after,
        or None."""
        return await self._in_transaction(
            lambda session: self._models.find_one_and_update(
                guard,
                {"$set": changes},
                projection=_DELETING,
                return_document=ReturnDocument.AFTER,
                session=session,
            )
        )

    async def _in_transaction(
        self, write: Callable[[AsyncClientSession | None], Awaitable[_T]]
    ) -> _T:
        return await write_in_transaction(self._models, write, self._transactions)

    @property
    def read_version(self) -> int | None:
        """Changes whenever what reads return may have changed; None while reads go to MongoDB."""
        cache = self._ready_cache()
        return None if cache is None else cache.version

    def _ready_cache(self) -> RegistryCache | None:
        return self._cache if self._cache is not None and self._cache.ready else None

    async def get(self, organization_id: int, model: int | str) -> ModelRecord | None:
        if (cache := self._ready_cache()) is not None and (found := cache.get(model)) is not None:
            return _their_record(found, organization_id)
        return _record(await self._models.find_one(_id_filter(model), _PUBLIC), organization_id)

    async def details(self, organization_id: int, model: int | str) -> ModelDetails | None:
        """The model with its desired deployment config (which holds no secret): from the
        cache, which keeps the config as bytes beside the record; from MongoDB before the
        cache is ready or for a model it has not seen yet."""
        if (cache := self._ready_cache()) is not None and (found := cache.get(model)) is not None:
            config = cache.deployment_config(found.public_id)
            if config is not None:
                theirs = _their_record(found, organization_id)
                return None if theirs is None else ModelDetails(theirs, config)
        found_details = _theirs(
            await self._models.find_one(_id_filter(model), _DETAILS), organization_id
        )
        return None if found_details is None else ModelDetails.from_document(found_details)

    async def page(
        self,
        organization_id: int,
        *,
        limit: int,
        offset: int,
        where: ModelFilter = NO_FILTER,
    ) -> tuple[list[ModelRecord], int]:
        if (cache := self._ready_cache()) is not None:
            return cache.page(organization_id, limit=limit, offset=offset, where=where)
        query = where.mongo_query(organization_id)
        models: list[ModelRecord] = []
        if limit > 0:  # MongoDB reads limit(0) as "no limit"; `?limit=0` asks for the total only
            cursor = self._models.find(query, _LIST).sort("id", ASCENDING).skip(offset)
            found = await cursor.limit(limit).to_list(length=limit)
            models = [ModelRecord.from_document(document) for document in found]
            if len(models) < limit and (models or offset == 0):
                return models, offset + len(models)  # the last page tells the total itself
        return models, await self._models.count_documents(query)

    async def own_models(
        self, organization_id: int, public_ids: list[str]
    ) -> dict[str, ModelRecord]:
        if (cache := self._ready_cache()) is not None:
            return cache.own(organization_id, public_ids)
        cursor = self._models.find(
            {"organization_id": organization_id, "public_id": {"$in": public_ids}}, _OWN
        )
        return {
            document["public_id"]: ModelRecord.from_document(document) async for document in cursor
        }

    async def mark_deleting(
        self, organization_id: int, model: int | str, *, now: datetime
    ) -> StoredModel | None:
        """The model, now `deleting` with its delete command pending; None when it is not theirs.

        A model already `deleting` whose command went out gets it again with the next
        attempt number (a new `Nats-Msg-Id`): a user's second DELETE is how a delete that
        seems stuck is pushed, and it must reach the deployer, not JetStream's dedup."""
        for _ in range(5):
            found = _theirs(
                await self._models.find_one(_id_filter(model), _DELETING), organization_id
            )
            if found is None:
                return None
            read = StoredModel.from_document(found)
            status, generation = read.record.status, read.record.generation
            if status == Status.DELETING and read.outbox:
                return read
            if status == Status.DELETING:
                attempt = read.delete_attempt + 1
                entry = delete_entry(read, generation=generation, now=now, attempt=attempt)
                again = await self._set_if(
                    {"_id": read.document_id, "generation": generation, "outbox": None},
                    {"delete_attempt": attempt, "updated_at": now, "outbox": entry},
                )
                if again is not None:
                    return StoredModel.from_document(again)
                continue
            deleting = {
                "status": Status.DELETING.value,
                "generation": generation + 1,
                "updated_at": now,
                "outbox": delete_entry(read, generation=generation + 1, now=now),
            }
            updated = await self._set_if(
                {"_id": read.document_id, "generation": generation}, deleting
            )
            if updated is not None:
                return StoredModel.from_document(updated)
        return None

    # --- day two -----------------------------------------------------------------------

    async def editable(self, organization_id: int, model: int | str) -> StoredModel | None:
        """The whole stored model (desired state, encrypted secrets, reservation), from
        MongoDB: what a change is judged against and guarded by."""
        found = _theirs(await self._models.find_one(_id_filter(model)), organization_id)
        return None if found is None else StoredModel.from_document(found)

    async def change(self, model: StoredModel, changes: Document) -> StoredModel | None:
        """Set `changes` on the model as it was read (its generation, not being deleted);
        the model after, or None when someone changed it meanwhile."""
        updated = await self._in_transaction(
            lambda session: self._models.find_one_and_update(
                change_guard(model),
                {"$set": changes},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
        )
        if updated is None:
            return None
        stored = StoredModel.from_document(updated)
        self.remember(stored)
        return stored

    # --- outbox -------------------------------------------------------------------------

    async def due(self, *, now: datetime, limit: int) -> list[Document]:
        cursor = (
            self._models.find({"outbox.due_at": {"$lte": now}}, {"_id": 1, "outbox": 1})
            .sort("outbox.due_at", ASCENDING)
            .limit(limit)
        )
        return await cursor.to_list(length=limit)

    async def clear_outbox(self, document_id: ObjectId, msg_id: str) -> None:
        """Drops the entry if it is still the one published (`msg_id`): a newer command
        written meanwhile stays pending. Concurrent clears go out as one command."""
        await self._clears.submit((document_id, msg_id))

    async def _clear_many(self, entries: list[tuple[ObjectId, str]]) -> list[BaseException | None]:
        """One `update_many`, one commit. Matching each `_id` and each `msg_id` against the
        whole batch's is the per-entry guard still: a msg_id names its model's public id,
        so no document can match another document's entry."""
        await self._in_transaction(
            lambda session: self._models.update_many(
                {
                    "_id": {"$in": [document_id for document_id, _ in entries]},
                    "outbox.msg_id": {"$in": [msg_id for _, msg_id in entries]},
                },
                {"$unset": {"outbox": ""}},
                session=session,
            )
        )
        return [None] * len(entries)

    async def postpone(self, document_id: ObjectId, msg_id: str, *, due_at: datetime) -> None:
        await self._in_transaction(
            lambda session: self._models.update_one(
                {"_id": document_id, "outbox.msg_id": msg_id},
                {"$set": {"outbox.due_at": due_at}, "$inc": {"outbox.attempts": 1}},
                session=session,
            )
        )

    # --- status from events -------------------------------------------------------------

    async def by_public_ids(self, public_ids: list[str]) -> dict[str, StoredModel]:
        """The whole stored models, from MongoDB: what their events are judged against and
        their writes guarded by."""
        cursor = self._models.find({"public_id": {"$in": public_ids}})
        return {
            document["public_id"]: StoredModel.from_document(document) async for document in cursor
        }

    async def write_all(self, writes: list[tuple[StoredModel, Document | None]]) -> bool:
        """Per model as read: the changes to `$set` (None: remove it), each guarded by the
        model as read (no delete, event or repair since). True when every guard held;
        False when some model changed meanwhile (the counts do not say which: re-read).

        One model is one guarded write, atomic by itself. Several go as one bulk update
        and one bulk delete, each in a transaction of its own (one commit each, not one
        per model) in the process's registered session (`transactions`), which another
        api kills if this one dies inside it: a transaction writes the models in one
        command only (see `bulk_write_in_one_commit`). One that meets another
        transaction's write is written model by model instead."""
        if not writes:
            return True
        if len(writes) == 1:
            return await self._write_one(*writes[0])
        updates = [write for write in writes if write[1] is not None]
        removals = [write for write in writes if write[1] is None]
        held = [await self._write_in_one_commit(group) for group in (updates, removals) if group]
        return all(held)

    async def _write_in_one_commit(self, writes: list[tuple[StoredModel, Document | None]]) -> bool:
        operations: list[UpdateOne | DeleteOne] = [
            DeleteOne(_removal_guard(model))
            if changes is None
            else UpdateOne(_guard(model), {"$set": changes})
            for model, changes in writes
        ]
        try:
            result = await bulk_write_in_one_commit(self._models, operations, self._transactions)
        except OperationFailure as exc:
            if exc.code not in WRITE_CONFLICT_CODES:
                raise
            # Another transaction (an admission) holds one of them and nothing was written:
            # each model alone then, as its own guarded write, rather than a transaction
            # that would keep meeting it.
            held = [await self._write_one(model, changes) for model, changes in writes]
            return all(held)
        return result.matched_count + result.deleted_count == len(writes)

    async def _write_one(self, model: StoredModel, changes: Document | None) -> bool:
        if changes is None:
            removed = await self._in_transaction(
                lambda session: self._models.delete_one(_removal_guard(model), session=session)
            )
            return removed.deleted_count == 1
        updated = await self._in_transaction(
            lambda session: self._models.update_one(
                _guard(model), {"$set": changes}, session=session
            )
        )
        return updated.matched_count == 1


def _guard(model: StoredModel) -> Document:
    """Matches the model only as it was read: no delete, event or repair since."""
    return {
        "_id": model.document_id,
        "generation": model.record.generation,
        "status": model.record.status,
        "event_sequence": model.event_sequence,
    }


def change_guard(model: StoredModel) -> Document:
    """Matches the model at the generation a change was judged on, unless it is being
    deleted; events may have moved its status meanwhile (they never change a generation)."""
    return {
        "_id": model.document_id,
        "generation": model.record.generation,
        "status": {"$ne": Status.DELETING.value},
    }


def _removal_guard(model: StoredModel) -> Document:
    return {"_id": model.document_id, "status": Status.DELETING.value}


def refused_insert(
    exc: BulkWriteError | DuplicateKeyError, documents: list[Document]
) -> tuple[int, BaseException] | None:
    """Where an ordered insert of `documents` stopped, and the error `insert_one` would
    have raised for that document alone; None when the failure names no document."""
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors") or []
        if not errors:
            return None
        position = int(errors[0]["index"])
        return position, insert_error(documents[position], errors[0])
    if len(documents) != 1:  # a lone document's error, as insert_one's
        return None
    return 0, insert_error(documents[0], dict(exc.details or {}))


def insert_error(document: Document, error: Document) -> BaseException:
    """The exception `insert_one` would have raised for this document alone."""
    if error.get("code") not in DUPLICATE_KEY_CODES:
        return WriteError(error.get("errmsg", "write error"), error.get("code"), error)
    if "public_id" in (error.get("keyPattern") or {}) or "index: public_id " in str(
        error.get("errmsg", "")
    ):
        return PublicIdCollisionError()
    return ModelNameTakenError(name=document["name"], namespace=document["namespace"])
