"""The projection writer against the real MongoDB-compatible server: batches in one
transaction, stale writes still losing one by one, and a killed writer's open
transaction not blocking the next writer for longer than its lease."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from services.inventory.adapters.projections import ProjectionWriter
from services.inventory.changes import ProjectionBacklog
from services.inventory.health import HealthPolicy
from services.inventory.store import ClusterStore, Watched
from shared.names import Collection
from shared.records import Document
from shared.transactions import TransactionSessions
from tests.inventory.support import deployment
from tests.shared.transaction_holder import killed_while_holding

HEARTBEAT = 0.2
LEASE = 1.0


def store() -> ClusterStore:
    return ClusterStore(
        policy=HealthPolicy(crashloop_restart_threshold=3, unschedulable_timeout=timedelta(0))
    )


def workload(name: str, *, rv: int, replicas: int = 1) -> dict[str, Any]:
    raw = deployment(name, replicas=replicas)
    raw["metadata"]["resourceVersion"] = str(rv)
    return raw


def changed(cluster: ClusterStore, *raws: dict[str, Any]) -> None:
    """Watch events (guarded writes), as the inventory applies them."""
    for raw in raws:
        assert cluster.apply(Watched.WORKLOADS, "MODIFIED", raw)


@asynccontextmanager
async def projection_writer(db: AsyncDatabase[Document]) -> AsyncIterator[ProjectionWriter]:
    """A writer in a process's registered transaction session, as the inventory runs it."""
    sessions = TransactionSessions(
        db, service="inventory", heartbeat_seconds=HEARTBEAT, lease_seconds=LEASE
    )
    await sessions.start()
    try:
        cluster, backlog = store(), ProjectionBacklog()
        cluster.subscribe(backlog)
        yield ProjectionWriter(db, cluster, backlog=backlog, sessions=sessions, batch_size=1000)
    finally:
        await sessions.close()


@pytest.fixture
async def writer(mongo_db: AsyncDatabase[Document]) -> AsyncIterator[ProjectionWriter]:
    async with projection_writer(mongo_db) as projection:
        yield projection


async def stored(db: AsyncDatabase[Document], key: str) -> Document | None:
    return await db[Collection.INVENTORY_WORKLOADS].find_one({"_id": key})


async def test_a_batch_is_one_transaction_and_a_newer_write_replaces_an_older_one(
    writer: ProjectionWriter, mongo_db: AsyncDatabase[Document]
) -> None:
    changed(writer.store, workload("a", rv=3), workload("b", rv=4))
    assert await writer.flush() == 2
    changed(writer.store, workload("a", rv=5, replicas=2))
    await writer.flush()

    a, b = await stored(mongo_db, "default/a"), await stored(mongo_db, "default/b")
    assert a is not None
    assert (a["rv"], a["replicas"]) == (5, 2)
    assert b is not None
    assert b["rv"] == 4
    assert writer.stale_writes == 0


async def test_a_stale_write_loses_and_the_rest_of_its_transaction_is_written(
    writer: ProjectionWriter, mongo_db: AsyncDatabase[Document]
) -> None:
    newer = {"_id": "default/a", "resource_version": "9", "rv": 9, "replicas": 7}
    await mongo_db[Collection.INVENTORY_WORKLOADS].insert_one(newer)
    changed(writer.store, workload("a", rv=5), workload("b", rv=5), workload("c", rv=6))

    await writer.flush()

    assert await stored(mongo_db, "default/a") == newer
    for key, rv in (("default/b", 5), ("default/c", 6)):
        document = await stored(mongo_db, key)
        assert document is not None
        assert document["rv"] == rv
    assert writer.stale_writes == 1
    assert not writer.pending()


async def test_a_killed_writers_open_transaction_stops_blocking_within_its_lease(
    mongodb_url: str, mongo_db: AsyncDatabase[Document]
) -> None:
    # A process registers its session, writes a projection document inside a transaction
    # and is SIGKILLed before it commits: the server keeps the transaction open.
    await killed_while_holding(
        mongodb_url, mongo_db.name, Collection.INVENTORY_WORKLOADS, "default/a"
    )

    async with projection_writer(mongo_db) as successor:
        changed(successor.store, workload("a", rv=2))

        async def flush_until_written() -> None:
            while True:  # as the inventory's write loop does: a failed flush is tried again
                try:
                    await successor.flush()
                    return
                except PyMongoError:
                    await asyncio.sleep(HEARTBEAT)

        await asyncio.wait_for(flush_until_written(), timeout=LEASE + 5 * HEARTBEAT + 10)
        assert successor.sessions.swept == 1

    document = await stored(mongo_db, "default/a")
    assert document is not None
    assert document["rv"] == 2
    assert "held_by" not in document  # the dead transaction was aborted, not committed


async def test_flushes_at_the_same_time_take_turns(
    writer: ProjectionWriter, mongo_db: AsyncDatabase[Document]
) -> None:
    node = {"metadata": {"name": "gpu-1", "resourceVersion": "3"}, "status": {}}
    assert writer.store.apply(Watched.NODES, "MODIFIED", node)
    changed(writer.store, workload("a", rv=4))

    # The second starts while the first is inside its nodes transaction, and finds the
    # workloads still to write: one session runs one transaction at a time.
    assert sum(await asyncio.gather(writer.flush(), writer.flush())) == 2

    assert await mongo_db[Collection.INVENTORY_NODES].count_documents({}) == 1
    assert await stored(mongo_db, "default/a") is not None
