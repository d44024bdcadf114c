"""MongoDB on PyMongo's own async client, and the indexes each collection needs.

Motor reached end of life; `pymongo.AsyncMongoClient` is its successor. Each service
calls `ensure_indexes` at start-up for the collections it owns; creating an index that
exists is a no-op, so this is safe on every start.
"""

from typing import Final

from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.names import Collection
from shared.records import Document

INDEXES: Final[dict[Collection, list[IndexModel]]] = {
    Collection.MODELS: [
        IndexModel(
            [("namespace", ASCENDING), ("name", ASCENDING)], unique=True, name="namespace_name"
        ),
        IndexModel([("id", ASCENDING)], unique=True, name="id"),
        IndexModel([("public_id", ASCENDING)], unique=True, name="public_id"),
        IndexModel([("organization_id", ASCENDING), ("id", ASCENDING)], name="organization_id_id"),
        # `GET /models?status=` before the api's view is ready (the commonest filter).
        IndexModel(
            [("organization_id", ASCENDING), ("status", ASCENDING), ("id", ASCENDING)],
            name="organization_id_status_id",
        ),
        # Admission reads the reservations still outstanding by it, never by a scan.
        IndexModel([("reserved", ASCENDING)], name="reserved"),
        IndexModel(
            [("outbox.due_at", ASCENDING)],
            name="outbox_pending",
            partialFilterExpression={"outbox.due_at": {"$exists": True}},
        ),
    ],
    Collection.API_KEYS: [
        IndexModel([("key_hash", ASCENDING)], unique=True, name="key_hash"),
        IndexModel([("organization_id", ASCENDING)], name="organization_id"),
    ],
    Collection.INVENTORY_PODS: [
        IndexModel([("node_name", ASCENDING)], name="node_name"),
    ],
    Collection.INVENTORY_WORKLOADS: [
        IndexModel([("public_id", ASCENDING)], name="public_id"),
        IndexModel([("namespace", ASCENDING), ("name", ASCENDING)], name="namespace_name"),
    ],
}


def connect(url: str, *, app_name: str) -> AsyncMongoClient[Document]:
    """A client; PyMongo connects lazily and reconnects by itself after a server restart."""
    return AsyncMongoClient(
        url,
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=10_000,
        retryWrites=True,
        retryReads=True,
    )


async def ensure_indexes(db: AsyncDatabase[Document], collections: tuple[Collection, ...]) -> None:
    for collection in collections:
        indexes = INDEXES.get(collection)
        if indexes:
            await db[collection].create_indexes(indexes)
