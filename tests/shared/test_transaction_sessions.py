"""Registered transaction sessions on the real MongoDB-compatible server: a process
killed inside a transaction stops holding its documents once its lease runs out, and a
live owner's session is never killed by another owner's sweep."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from shared.names import Collection
from shared.records import Document
from shared.transactions import TransactionSessions, bulk_write_in_one_commit
from tests.shared.transaction_holder import killed_while_holding
from tests.waiting import eventually

pytestmark = pytest.mark.integration
HEARTBEAT = 0.2
LEASE = 1.0


@asynccontextmanager
async def owner(db: AsyncDatabase[Document], service: str) -> AsyncIterator[TransactionSessions]:
    sessions = TransactionSessions(
        db, service=service, heartbeat_seconds=HEARTBEAT, lease_seconds=LEASE
    )
    await sessions.start()
    try:
        yield sessions
    finally:
        await sessions.close()


async def records(db: AsyncDatabase[Document]) -> list[Document]:
    return [r async for r in db[Collection.TRANSACTION_SESSIONS].find({})]


@pytest.mark.parametrize("size", [1, 3])
async def test_a_killed_process_stops_holding_a_model_within_the_lease(
    mongodb_url: str, mongo_db: AsyncDatabase[Document], size: int
) -> None:
    """With several sessions too: the one left in a transaction is the last registered."""
    models = mongo_db[Collection.MODELS]
    await models.insert_one({"_id": "m1", "status": "running"})
    await killed_while_holding(mongodb_url, mongo_db.name, Collection.MODELS, "m1", size=size)
    [dead] = await records(mongo_db)
    assert dead["service"] == "holder"
    assert len(dead["lsids"]) == size

    # The hazard: the dead process's transaction still holds the model.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(models.update_one({"_id": "m1"}, {"$set": {"probe": 1}}), 0.5)

    async with owner(mongo_db, "api") as successor:
        loop = asyncio.get_running_loop()
        started = loop.time()
        result = await asyncio.wait_for(
            models.update_one({"_id": "m1"}, {"$set": {"status": "deleting"}}),
            timeout=LEASE + 5 * HEARTBEAT + 1.0,
        )
        assert result.modified_count == 1
        assert loop.time() - started < LEASE + 5 * HEARTBEAT + 1.0
        # The kill releases the model before the sweep has removed the dead record and
        # counted it: the update can return while the sweep is still on its last steps.

        async def swept() -> bool:
            return successor.swept == 1

        await eventually(swept, within=2.0)
        assert [r["_id"] for r in await records(mongo_db)] == [successor.owner]

    document = await models.find_one({"_id": "m1"})
    assert document is not None
    assert document["status"] == "deleting"
    assert "held_by" not in document  # the dead transaction was aborted, not committed


async def test_a_live_owners_transaction_outlives_other_owners_sweeps(
    mongo_db: AsyncDatabase[Document],
) -> None:
    models = mongo_db[Collection.MODELS]
    await models.insert_one({"_id": "m1", "n": 0})
    async with owner(mongo_db, "api") as live, owner(mongo_db, "api") as other:
        async with live.session() as session, await session.start_transaction():
            await models.update_one({"_id": "m1"}, {"$set": {"n": 1}}, session=session)
            await asyncio.sleep(3 * LEASE)  # several leases and many sweeps of `other`
            await other.sweep()
        assert (live.swept, other.swept) == (0, 0)
        assert {r["_id"] for r in await records(mongo_db)} == {live.owner, other.owner}
        result = await bulk_write_in_one_commit(
            models, [UpdateOne({"_id": "m1", "n": 1}, {"$set": {"n": 2}})], live
        )
        assert result.modified_count == 1
    assert await records(mongo_db) == []  # a clean shutdown deletes its record
    assert await models.find_one({"_id": "m1"}) == {"_id": "m1", "n": 2}


async def test_an_owner_swept_while_stalled_registers_again(
    mongo_db: AsyncDatabase[Document],
) -> None:
    async with owner(mongo_db, "inventory") as sessions:
        await mongo_db[Collection.TRANSACTION_SESSIONS].delete_one({"_id": sessions.owner})
        await asyncio.sleep(3 * HEARTBEAT)
        assert [r["_id"] for r in await records(mongo_db)] == [sessions.owner]
        models = mongo_db[Collection.MODELS]
        result = await bulk_write_in_one_commit(
            models, [UpdateOne({"_id": "m1"}, {"$set": {"n": 1}}, upsert=True)], sessions
        )
        assert result.upserted_count == 1


def test_the_lease_spans_several_heartbeats() -> None:
    with pytest.raises(ValueError, match="lease"):
        TransactionSessions(
            AsyncDatabase.__new__(AsyncDatabase), service="x", heartbeat_seconds=5, lease_seconds=6
        )


async def test_several_sessions_run_transactions_at_once(mongo_db: AsyncDatabase[Document]) -> None:
    sessions = TransactionSessions(mongo_db, service="api", size=2)
    await sessions.start()
    try:
        async with sessions.session() as first, sessions.session() as second:
            assert first is not second
            taken = asyncio.create_task(asyncio.wait_for(_take(sessions), 0.3))
            with pytest.raises(TimeoutError):  # a third waits for one of them
                await taken
        async with sessions.session():
            pass
    finally:
        await sessions.close()
    assert await records(mongo_db) == []


async def _take(sessions: TransactionSessions) -> None:
    async with sessions.session():
        pass


async def test_close_ends_a_session_a_task_still_holds_after_its_wait(
    mongo_db: AsyncDatabase[Document], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task that outlived its service's stop keeps its session: `close` waits for it
    `CLOSE_SECONDS`, then ends it anyway and removes the record (a stop stays bounded)."""
    monkeypatch.setattr("shared.transactions.CLOSE_SECONDS", 0.3)
    sessions = TransactionSessions(mongo_db, service="test", size=1)
    await sessions.start()
    holding = asyncio.Event()

    async def holds() -> None:
        async with sessions.session():
            holding.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(holds())
    await holding.wait()
    async with asyncio.timeout(5):
        await sessions.close()
    assert await records(mongo_db) == []
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
