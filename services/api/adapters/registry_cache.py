"""An in-memory copy of the registry's models as records, kept current by a change stream.

Why: `GET /models` pages an organization sorted by id, and `/all` marks the caller's own
models. Asking MongoDB each time costs an index scan, a fetch and a sort per request; on
the embedded MongoDB-compatible server that is hundreds of milliseconds at 10,000
models. The api reads this cache instead, as the inventory answers from its projection.

How it stays right: the change stream is opened *before* the initial load, so nothing
written meanwhile is missed; events then arrive in write order and each carries the
document as it is now (`updateLookup`), so the cache converges on the collection even
when the load already saw a newer version than an early event. Any stream error drops
the cache (`ready` goes false, reads fall back to MongoDB) and it is rebuilt from a fresh
load. Each document becomes a `ModelRecord` once, when it arrives (not on every read).
Secrets never enter it: the record has no field for the token or the outbox, and each
model's deployment config (which the registry stores without a secret) is kept apart as
compact JSON bytes without any secret-named `extra_env` entry an older version may have
stored: about a kilobyte a model, where the decoded dict is about four.
"""

import asyncio
import bisect
import logging
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from services.api.admission import holds_gpus
from services.api.listing import NO_FILTER, ModelFilter
from services.api.records import ModelRecord, StoredModel, secret_env_apart
from shared.records import Document

log = logging.getLogger(__name__)

RETRY_SECONDS: Final = 1.0
_REMEMBERED_FILTERS: Final = 64


def config_bytes(config: dict[str, Any]) -> bytes:
    """A stored deployment config as the cache keeps it: JSON, without a secret value."""
    return orjson.dumps(secret_env_apart(config))


class RegistryCache:
    def __init__(self, models: AsyncCollection[Document]) -> None:
        self._models = models
        self._stopping = False
        self.ready = False
        self.version = 0
        """Bumped on every change, so a reader can tell whether what it derived is still current."""
        self._by_public_id: dict[str, ModelRecord] = {}
        self._public_id_of_id: dict[int, str] = {}
        self._public_id_of_oid: dict[ObjectId, str] = {}
        self._ids_of_org: dict[int, list[int]] = {}
        self.pending_since: dict[str, datetime] = {}
        """Models whose outbox holds a command not yet published, and when it was issued."""
        self._filtered: dict[tuple[int, ModelFilter], tuple[int, list[int]]] = {}
        self._configs: dict[str, bytes] = {}
        self._quota_used: dict[int, int] = {}
        """Organization id -> the GPUs its models count against its quota."""
        self._reserving: dict[str, ModelRecord] = {}
        """The models whose reservation is still in the `reserved` index, by public id."""

    # --- reads --------------------------------------------------------------------------

    def get(self, model: int | str) -> ModelRecord | None:
        public_id = self._public_id_of_id.get(model) if isinstance(model, int) else model
        return None if public_id is None else self._by_public_id.get(public_id)

    def page(
        self, organization_id: int, *, limit: int, offset: int, where: ModelFilter = NO_FILTER
    ) -> tuple[list[ModelRecord], int]:
        ids = self._ids_of_org.get(organization_id, [])
        if where.empty:
            chosen = ids[offset : offset + limit] if limit > 0 else []
            return [self._by_public_id[self._public_id_of_id[i]] for i in chosen], len(ids)
        found = self._matching(organization_id, where, ids)
        chosen = found[offset : offset + limit] if limit > 0 else []
        return [self._by_public_id[self._public_id_of_id[i]] for i in chosen], len(found)

    def _matching(self, organization_id: int, where: ModelFilter, ids: list[int]) -> list[int]:
        """The organization's ids that `where` keeps, remembered until the cache changes:
        a client paging a filter (or many asking the same) scans 10,000 models once."""
        key = (organization_id, where)
        held = self._filtered.get(key)
        if held is not None and held[0] == self.version:
            return held[1]
        by_public_id, public_id_of_id, matches = (
            self._by_public_id,
            self._public_id_of_id,
            where.matches,
        )
        found = [i for i in ids if matches(by_public_id[public_id_of_id[i]])]
        if len(self._filtered) >= _REMEMBERED_FILTERS:
            self._filtered.clear()
        self._filtered[key] = (self.version, found)
        return found

    def deployment_config(self, public_id: str) -> dict[str, Any] | None:
        """The model's stored deployment config (see `config_bytes`), if the cache has it."""
        held = self._configs.get(public_id)
        return None if held is None else orjson.loads(held)

    def records(self) -> list[ModelRecord]:
        return list(self._by_public_id.values())

    def quota_used(self, organization_id: int) -> int:
        """The GPUs the organization's models count against its quota (`quota_gpus`)."""
        return self._quota_used.get(organization_id, 0)

    def reserving(self, now: datetime) -> list[ModelRecord]:
        """The models whose reservation may hold GPUs at `now` (`holds_gpus`): not yet
        released, or released and still in their grace. The ones past it are forgotten as
        they are met."""
        held = []
        for public_id, record in list(self._reserving.items()):
            if _holds(record, now):
                held.append(record)
            else:
                del self._reserving[public_id]
        return held

    def own(self, organization_id: int, public_ids: list[str]) -> dict[str, ModelRecord]:
        found = (self._by_public_id.get(public_id) for public_id in public_ids)
        return {
            record.public_id: record
            for record in found
            if record is not None and record.organization_id == organization_id
        }

    # --- writes -------------------------------------------------------------------------

    def put(self, document: Document) -> None:
        """Add or replace a model (from the stream or the load)."""
        config = document.get("deployment_config")
        self._put(
            ModelRecord.from_document(document),
            document.get("_id"),
            config if isinstance(config, dict) else None,
            document.get("outbox"),
        )

    def put_model(self, model: StoredModel) -> None:
        """Add or replace a model this api wrote, as the write returned it (its record is
        the one kept: no second conversion)."""
        self._put(model.record, model.document_id, model.deployment_config, model.outbox)

    def _put(
        self, record: ModelRecord, object_id: Any, config: dict[str, Any] | None, outbox: object
    ) -> None:
        self.version += 1
        public_id = record.public_id
        before = self._by_public_id.get(public_id)
        if before is None:
            ids = self._ids_of_org.setdefault(record.organization_id, [])
            bisect.insort(ids, record.id)
            self._public_id_of_id[record.id] = public_id
        else:
            self._count_out(before)
        self._count_in(record)
        if object_id is not None:
            self._public_id_of_oid[object_id] = public_id
        self._by_public_id[public_id] = record
        if config is not None:
            self._configs[public_id] = config_bytes(config)
        self._note_outbox(public_id, outbox)

    def _note_outbox(self, public_id: str, outbox: object) -> None:
        if not isinstance(outbox, dict):
            self.pending_since.pop(public_id, None)
            return
        command = outbox.get("command")
        issued = command.get("issued_at") if isinstance(command, dict) else None
        self.pending_since[public_id] = _as_time(issued)

    def discard(self, object_id: ObjectId) -> None:
        self.version += 1
        public_id = self._public_id_of_oid.pop(object_id, None)
        record = None if public_id is None else self._by_public_id.pop(public_id, None)
        if record is None:
            return
        self.pending_since.pop(record.public_id, None)
        self._configs.pop(record.public_id, None)
        self._count_out(record)
        del self._public_id_of_id[record.id]
        ids = self._ids_of_org.get(record.organization_id, [])
        position = bisect.bisect_left(ids, record.id)
        if position < len(ids) and ids[position] == record.id:
            del ids[position]

    def _count_in(self, record: ModelRecord) -> None:
        if record.quota_gpus:
            used = self._quota_used.get(record.organization_id, 0)
            self._quota_used[record.organization_id] = used + record.quota_gpus
        if _holds(record, datetime.now(UTC)):
            self._reserving[record.public_id] = record
        else:
            self._reserving.pop(record.public_id, None)

    def _count_out(self, record: ModelRecord) -> None:
        if record.quota_gpus:
            used = self._quota_used[record.organization_id] - record.quota_gpus
            if used:
                self._quota_used[record.organization_id] = used
            else:
                del self._quota_used[record.organization_id]
        self._reserving.pop(record.public_id, None)

    def _clear(self) -> None:
        self.ready = False
        self.version += 1
        self._quota_used.clear()
        self._reserving.clear()
        self._by_public_id.clear()
        self._public_id_of_id.clear()
        self._public_id_of_oid.clear()
        self._ids_of_org.clear()
        self.pending_since.clear()
        self._configs.clear()

    # --- following the collection -------------------------------------------------------

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("registry cache lost its change stream", extra={"error": repr(exc)})
            self._clear()
            if not self._stopping:
                await asyncio.sleep(RETRY_SECONDS)

    def stop(self) -> None:
        self._stopping = True

    async def _follow(self) -> None:
        async with await self._models.watch(full_document="updateLookup") as stream:
            self._clear()
            async for document in self._models.find(
                {}, {"outbox": 0, "hf_token_encrypted": 0, "secret_env_encrypted": 0}
            ):
                self.put(document)
            pending = {"outbox": {"$exists": True}}
            async for entry in self._models.find(pending, {"public_id": 1, "outbox.command": 1}):
                if entry["public_id"] in self._by_public_id:
                    self._note_outbox(entry["public_id"], entry["outbox"])
            self.ready = True
            log.info("registry cache ready", extra={"models": len(self._by_public_id)})
            while not self._stopping:
                change = await stream.try_next()
                if change is not None:
                    self._apply(change)

    def _apply(self, change: Document) -> None:
        operation = change["operationType"]
        if operation in ("insert", "update", "replace"):
            document = change.get("fullDocument")
            if document is not None:  # None: deleted since; its delete event follows
                self.put(document)
        elif operation == "delete":
            self.discard(change["documentKey"]["_id"])
        elif operation in ("drop", "dropDatabase", "rename", "invalidate"):
            raise RuntimeError(f"the models collection saw {operation}")


def _as_time(value: object) -> datetime:
    """A command's `issued_at` (a datetime, or its JSON text); now when unreadable."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _as_time(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    return datetime.now(UTC)


def _holds(record: ModelRecord, now: datetime) -> bool:
    return holds_gpus(
        reserved=record.reserved, status=record.status, released_at=record.released_at, now=now
    )
