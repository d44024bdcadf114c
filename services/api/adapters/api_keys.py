"""API keys in MongoDB (`api_keys`): only the SHA-256 of a key is ever stored."""

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.api.keys import (
    KEY_PREFIX,
    Caller,
    NewKey,
    generate_key,
    hash_key,
    hashes_match,
)
from shared.names import Collection
from shared.records import Document

_CACHE_LIMIT: Final = 10_000


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    organization_id: int
    name: str
    created_at: datetime
    revoked_at: datetime | None


class KeyNotFoundError(LookupError):
    def __init__(self, reference: str) -> None:
        super().__init__(f"no API key matches {reference!r}")


class AmbiguousKeyError(LookupError):
    def __init__(self, reference: str) -> None:
        super().__init__(f"more than one API key matches {reference!r}; give more of it")


class ApiKeys:
    def __init__(self, db: AsyncDatabase[Document], *, cache_seconds: float = 0.0) -> None:
        self._keys = db[Collection.API_KEYS]
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Caller]] = {}
        self._lookups: dict[str, asyncio.Future[Caller | None]] = {}
        """The lookups on their way, by key hash."""

    async def create(self, *, organization_id: int, name: str, now: datetime) -> NewKey:
        new = generate_key()
        await self._keys.insert_one(
            {
                "key_id": new.prefix,
                "key_hash": new.key_hash,
                "organization_id": organization_id,
                "name": name,
                "created_at": now,
                "revoked_at": None,
            }
        )
        return new

    async def register(self, key: str, *, organization_id: int, name: str, now: datetime) -> None:
        """Store a key chosen by the operator (`JAN_MODELS_DEV_API_KEY`); idempotent."""
        await self._keys.update_one(
            {"key_hash": hash_key(key)},
            {
                "$set": {"organization_id": organization_id, "name": name, "revoked_at": None},
                # The id shown by `keys list` comes from the hash, not from the chosen key:
                # a chosen key may share its first characters with another one.
                "$setOnInsert": {"key_id": f"{KEY_PREFIX}{hash_key(key)[:12]}", "created_at": now},
            },
            upsert=True,
        )

    async def authenticate(self, key: str) -> Caller | None:
        """The caller a key belongs to; None for an unknown or revoked key.

        Requests that arrive with one key while its lookup is on its way share that
        lookup: when a busy key's cache entry runs out, every request of the next round
        trip would otherwise read the same document again (63 reads in one quick create
        bench, against one a cache period)."""
        candidate = hash_key(key)
        cached = self._cache.get(candidate)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        lookup = self._lookups.get(candidate)
        if lookup is None:
            lookup = asyncio.ensure_future(self._lookup(candidate))
            self._lookups[candidate] = lookup
            lookup.add_done_callback(lambda done: self._looked_up(candidate, done))
        # shielded: a request that goes away does not cancel the others' answer
        return await asyncio.shield(lookup)

    def _looked_up(self, candidate: str, lookup: "asyncio.Future[Caller | None]") -> None:
        if self._lookups.get(candidate) is lookup:
            del self._lookups[candidate]
        if not lookup.cancelled():
            lookup.exception()  # retrieved: each waiting request raises it on its own

    async def _lookup(self, candidate: str) -> Caller | None:
        found = await self._keys.find_one(
            {"key_hash": candidate, "revoked_at": None},
            {"_id": 0, "key_hash": 1, "organization_id": 1, "key_id": 1},
        )
        if found is None or not hashes_match(candidate, found["key_hash"]):
            return None
        caller = Caller(organization_id=int(found["organization_id"]), key_id=found["key_id"])
        if self._cache_seconds > 0:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[candidate] = (time.monotonic() + self._cache_seconds, caller)
        return caller

    async def all(self, *, organization_id: int | None = None) -> list[KeyRecord]:
        query: Document = {} if organization_id is None else {"organization_id": organization_id}
        cursor = self._keys.find(query, {"key_hash": 0}).sort("created_at", ASCENDING)
        return [
            KeyRecord(
                key_id=document["key_id"],
                organization_id=document["organization_id"],
                name=document.get("name", ""),
                created_at=document["created_at"],
                revoked_at=document.get("revoked_at"),
            )
            async for document in cursor
        ]

    async def revoke(self, reference: str, *, now: datetime) -> KeyRecord:
        """Revoke the one key whose id starts with `reference` (`jm_` + 8 characters)."""
        matches = [key for key in await self.all() if key.key_id.startswith(reference)]
        if not matches or not reference:
            raise KeyNotFoundError(reference)
        if len(matches) > 1:
            raise AmbiguousKeyError(reference)
        key = matches[0]
        await self._keys.update_one(
            {"key_id": key.key_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
        )
        self._cache.clear()
        return KeyRecord(
            key_id=key.key_id,
            organization_id=key.organization_id,
            name=key.name,
            created_at=key.created_at,
            revoked_at=key.revoked_at or now,
        )
