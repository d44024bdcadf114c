"""The api writes its models in transactions only, each writing the models in one command,
its last before the commit, on the real MongoDB-compatible server.

Why (see `shared.transactions`): the embedded server retries a plain write that meets a
transaction's uncommitted write while it holds the collection; a transaction's statement
on that collection then waits while holding its transaction, and the reaper pass that
every commit runs under one server-wide lock waits for it: nothing commits again and the
server stays wedged for good (CI's fault tests all timed out behind one such wedge). The
first tests show the server doing so, each on a server of its own that is killed
afterwards; the others watch every command the api sends."""

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient, DeleteOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from jan_models.embedded import EmbeddedMongo, free_port
from services.api.adapters.admissions import Admissions
from services.api.adapters.registry import Registry
from services.api.records import StoredModel
from shared import database
from shared.names import Collection
from shared.records import Document
from shared.transactions import TransactionSessions, bulk_write_in_one_commit
from tests.api.conftest import gpu_placement, synced_status
from tests.api.test_admission_batches import race, readmit, stored

pytestmark = pytest.mark.integration
WRITES = frozenset({"insert", "update", "delete", "findAndModify"})


@dataclass
class Statements(CommandListener):
    """The commands of every transaction, in order, by (session, transaction number)."""

    sent: dict[tuple[bytes, int], list[tuple[str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    plain: list[tuple[str, str]] = field(default_factory=list)
    """Writes outside any multi-document transaction: (command, collection)."""

    def started(self, event: CommandStartedEvent) -> None:
        command = event.command
        target = command.get(event.command_name)
        if "txnNumber" not in command or "autocommit" not in command:
            if event.command_name in WRITES:
                self.plain.append((event.command_name, target if isinstance(target, str) else ""))
            return  # not a statement of a multi-document transaction
        key = (bytes(command["lsid"]["id"]), int(command["txnNumber"]))
        self.sent[key].append((event.command_name, target if isinstance(target, str) else ""))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass

    def broken(self, collection: str) -> list[list[tuple[str, str]]]:
        """The transactions that wrote `collection` in more than one command, or went on
        after writing it."""
        wrong = []
        for statements in self.sent.values():
            body = [s for s in statements if s[0] not in ("commitTransaction", "abortTransaction")]
            writes = [
                i
                for i, (name, target) in enumerate(body)
                if name in WRITES and target == collection
            ]
            if len(writes) > 1 or (writes and writes[-1] != len(body) - 1):
                wrong.append(statements)
        return wrong


@pytest.fixture
async def watched(
    mongodb_url: str, mongo_db: AsyncDatabase[Document]
) -> AsyncIterator[tuple[AsyncDatabase[Document], Statements]]:
    """This test's database through a client whose commands are recorded."""
    statements = Statements()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        mongodb_url, tz_aware=True, event_listeners=[statements]
    )
    db = client[mongo_db.name]
    await database.ensure_indexes(db, (Collection.MODELS,))
    try:
        yield db, statements
    finally:
        await client.close()


@pytest.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[AsyncDatabase[Document]]:
    """A server of this test's own: the one it wedges is killed afterwards."""
    server = EmbeddedMongo(name="wedged", port=free_port(), log_path=tmp_path / "mongo.log")
    await server.astart()
    client: AsyncMongoClient[Document] = AsyncMongoClient(server.url, timeoutMS=20_000)
    try:
        yield client["wedge"]
    finally:
        server.kill()
        with suppress(Exception):
            await client.close()


async def test_a_transaction_that_only_waits_to_commit_lets_a_plain_write_it_met_through(
    own_server: AsyncDatabase[Document],
) -> None:
    items = own_server["items"]
    await items.insert_many([{"_id": n, "n": 0} for n in range(3)])
    session = own_server.client.start_session()
    await session.start_transaction()
    await items.update_one({"_id": 1}, {"$set": {"n": 1}}, session=session)
    plain = asyncio.create_task(items.update_many({"_id": {"$in": [0, 1]}}, {"$set": {"n": 2}}))
    await asyncio.sleep(0.3)
    assert not plain.done()  # it waits for the transaction's write to commit or abort
    await asyncio.wait_for(session.commit_transaction(), 10)
    await asyncio.wait_for(plain, 10)
    assert [d["n"] async for d in items.find({}).sort("_id")] == [2, 2, 0]
    # And one whose process died before its commit (`TransactionSessions`' sweep kills it).
    await session.start_transaction()
    await items.update_one({"_id": 2}, {"$set": {"n": 1}}, session=session)
    plain = asyncio.create_task(items.update_one({"_id": 2}, {"$set": {"n": 3}}))
    await asyncio.sleep(0.3)
    assert not plain.done()
    await own_server.client.admin.command("killSessions", [session.session_id])
    await asyncio.wait_for(plain, 10)
    assert (await items.find_one({"_id": 2}) or {})["n"] == 3


async def test_the_server_wedges_when_a_plain_write_meets_a_transaction(
    own_server: AsyncDatabase[Document],
) -> None:
    """A transaction that wrote once and only has to commit cannot: a plain write that
    met its write holds the collection, a second transaction's first statement waits for
    the collection, and the commit's reaper pass waits for that second transaction."""
    items = own_server["items"]
    await items.insert_many([{"_id": n, "n": 0} for n in range(3)])
    first, second = own_server.client.start_session(), own_server.client.start_session()
    await first.start_transaction()
    await items.update_one({"_id": 1}, {"$set": {"n": 1}}, session=first)
    plain = asyncio.create_task(items.update_many({"_id": {"$in": [0, 1]}}, {"$set": {"n": 2}}))
    await asyncio.sleep(0.3)
    await second.start_transaction()
    other = asyncio.create_task(items.update_one({"_id": 2}, {"$set": {"n": 1}}, session=second))
    await asyncio.sleep(0.3)
    commit = asyncio.create_task(first.commit_transaction())
    done, pending = await asyncio.wait({commit, plain, other}, timeout=3)
    # If this fails, the embedded server no longer wedges, and the rule in
    # `shared.transactions` (a collection is written in transactions only, or never in
    # one) may be relaxed.
    assert not done, "the embedded server no longer wedges: see shared.transactions"
    for task in pending:
        task.cancel()


async def test_an_admission_and_the_release_of_bound_reservations_write_the_models_once_each(
    watched: tuple[AsyncDatabase[Document], Statements],
) -> None:
    db, statements = watched
    sessions = TransactionSessions(db, service="api")
    await sessions.start()
    try:
        admissions = Admissions(db, transactions=sessions, full_read_seconds=0.0)  # releases
        status = synced_status(placement=gpu_placement(allocatable=4))
        first = stored(await race(admissions, status, [("bound", 1), ("failing", 1)]))
        by_name = {record.name: record for record in first}
        await db[Collection.MODELS].update_one({"name": "failing"}, {"$set": {"status": "failed"}})
        # running with a replica not ready yet: its release is the admissions'
        await db[Collection.MODELS].update_one({"name": "bound"}, {"$set": {"status": "running"}})
        statements.plain.clear()  # the test's own
        bound = synced_status(
            placement=gpu_placement(allocatable=4, allocated=1),
            bound_gpus={by_name["bound"].public_id: {"gpu-a100-1": 1}},
        )
        # One admission that releases "bound" (its pod is bound) and takes "failing" out
        # of the reserved index, besides storing its own model.
        assert stored(await race(admissions, bound, [("next", 1)]))
        released = await db[Collection.MODELS].find_one({"name": "bound"})
        assert released is not None
        assert released["released_at"] > datetime.now(UTC)
        failing = await db[Collection.MODELS].find_one({"name": "failing"})
        assert failing is not None
        assert failing["reserved"] is False

        # A readmission (a change that adds GPUs) too.
        await readmit(admissions, db, bound, "next", 2)
    finally:
        await sessions.close()

    assert statements.broken(Collection.MODELS) == []
    assert len(statements.sent) >= 4  # the admissions, the release and the readmission
    assert [write for write in statements.plain if write[1] == Collection.MODELS] == []


async def test_a_status_batch_of_updates_and_removals_writes_each_in_a_command_of_its_own(
    watched: tuple[AsyncDatabase[Document], Statements],
) -> None:
    db, statements = watched
    models = db[Collection.MODELS]
    documents = [
        {"public_id": f"mdl_{n}", "name": f"m{n}", "namespace": "ns", "id": n}
        | {"organization_id": 1, "generation": 1, "event_sequence": 0}
        | {"status": "deleting" if n % 2 else "pending"}
        for n in range(4)
    ]
    await models.insert_many(documents)
    sessions = TransactionSessions(db, service="api")
    await sessions.start()
    try:
        registry = Registry(db, transactions=sessions)
        writes = [
            (
                StoredModel.from_document(document),
                None if document["status"] == "deleting" else {"status": "running"},
            )
            for document in documents
        ]
        assert await registry.write_all(writes)
    finally:
        await sessions.close()

    assert {d["public_id"]: d["status"] async for d in models.find({})} == {
        "mdl_0": "running",
        "mdl_2": "running",
    }
    assert statements.broken(Collection.MODELS) == []
    assert len(statements.sent) == 2  # the updates, then the removals


async def test_one_transaction_is_one_command(mongo_db: AsyncDatabase[Document]) -> None:
    items = mongo_db["items"]
    await items.insert_many([{"_id": n} for n in range(2)])
    with pytest.raises(ValueError, match="one command"):
        await bulk_write_in_one_commit(
            items, [UpdateOne({"_id": 0}, {"$set": {"n": 1}}), DeleteOne({"_id": 1})]
        )
    assert [d async for d in items.find({})] == [{"_id": 0}, {"_id": 1}]


async def test_every_write_of_the_registry_is_a_transaction(
    watched: tuple[AsyncDatabase[Document], Statements],
) -> None:
    db, statements = watched
    models = db[Collection.MODELS]
    sessions = TransactionSessions(db, service="api")
    await sessions.start()
    try:
        registry = Registry(db, transactions=sessions)
        now = datetime.now(UTC)
        created = [
            {"public_id": ref(n), "name": "twin" if n < 2 else f"m{n}", "namespace": "ns"}
            | {"id": n, "organization_id": 1, "generation": 1, "event_sequence": 0}
            | {"status": "pending", "outbox": {"msg_id": f"{ref(n)}-1", "due_at": now}}
            for n in range(4)
        ]
        outcomes = await asyncio.gather(
            *(registry.insert(document) for document in created), return_exceptions=True
        )
        assert [type(outcome).__name__ for outcome in outcomes] == [
            "StoredModel",
            "ModelNameTakenError",  # the twin's: the rest of its batch is stored
            "StoredModel",
            "StoredModel",
        ]
        stored = {d["public_id"]: d async for d in models.find({})}
        assert sorted(stored) == [ref(0), ref(2), ref(3)]
        await registry.clear_outbox(stored[ref(0)]["_id"], f"{ref(0)}-1")
        await registry.postpone(stored[ref(2)]["_id"], f"{ref(2)}-1", due_at=now)
        deleting = await registry.mark_deleting(1, ref(3), now=now)
        assert deleting is not None
        assert deleting.record.status == "deleting"
        read = StoredModel.from_document(stored[ref(0)])
        changed = await registry.change(read, {"display_name": "zero"})
        assert changed is not None
        assert changed.record.display_name == "zero"
        assert await registry.write_all([(changed, {"status": "running"})])
    finally:
        await sessions.close()

    after = {d["public_id"]: d async for d in models.find({})}
    assert "outbox" not in after[ref(0)]
    assert after[ref(0)]["status"] == "running"
    assert after[ref(2)]["outbox"]["attempts"] == 1
    assert after[ref(3)]["status"] == "deleting"
    assert [write for write in statements.plain if write[1] == Collection.MODELS] == []
    assert statements.broken(Collection.MODELS) == []


def ref(n: int) -> str:
    return f"mdl_{n:012d}"
