"""The status consumer settles a fetched batch with one read and one write, on the real
MODEL_EVENTS stream and the real MongoDB-compatible server; a model changed between that
read and write makes it judge the batch again from a fresh read."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from pymongo.asynchronous.database import AsyncDatabase

from services.api.adapters.registry import Registry
from services.api.adapters.relay import OutboxRelay
from services.api.adapters.status_consumer import StatusConsumer
from services.api.documents import new_model_document
from services.api.records import StoredModel
from services.api.requests import CreateModelRequest
from services.api.web.examples import SEED_CREATE_REQUEST
from shared import database
from shared.commands import ModelRef
from shared.events import (
    AppliedData,
    CloudEvent,
    DeletedData,
    FailedData,
    ModelApplied,
    ModelDeleted,
    ModelFailed,
    ModelRunning,
    ObjectRef,
    RunningData,
)
from shared.messaging import publish_event
from shared.names import EVENTS_STREAM, EVENTS_WILDCARD, Collection
from shared.records import Document
from shared.transactions import TransactionSessions

pytestmark = pytest.mark.integration

SOURCE = "/jan-models/deployer"
DEPLOYMENT = ObjectRef(api_version="apps/v1", kind="Deployment", name="x")


class CountingRegistry(Registry):
    def __init__(
        self, db: AsyncDatabase[Document], *, transactions: TransactionSessions | None = None
    ) -> None:
        super().__init__(db, transactions=transactions)
        self.calls: list[str] = []
        self.meanwhile: Any = None

    async def by_public_ids(self, public_ids: list[str]) -> dict[str, StoredModel]:
        self.calls.append("by_public_ids")
        found = await super().by_public_ids(public_ids)
        if self.meanwhile is not None:  # another writer, between our read and our write
            action, self.meanwhile = self.meanwhile, None
            await action()
        return found

    async def write_all(self, writes: list[tuple[StoredModel, Document | None]]) -> bool:
        self.calls.append("write_all")
        return await super().write_all(writes)


async def stored_model(registry: Registry, name: str, model_id: int) -> Document:
    request = {**SEED_CREATE_REQUEST, "name": name}
    request["deployment_config"] = {**request["deployment_config"], "args": []}
    now = datetime.now(UTC)
    document = new_model_document(
        CreateModelRequest.model_validate(request),
        model_id=model_id,
        public_id=f"mdl_{name:0>12}",
        organization_id=3,
        hf_token_encrypted=None,
        now=now,
        due_at=now,
    )
    await registry.insert(document)
    return document


def ref(document: Document, generation: int = 1) -> dict[str, Any]:
    return ModelRef(
        organization_id=document["organization_id"],
        model_id=document["id"],
        public_id=document["public_id"],
        name=document["name"],
        generation=generation,
    ).model_dump()


def applied(document: Document) -> CloudEvent:
    return ModelApplied.of(AppliedData(**ref(document), objects=[DEPLOYMENT]), source=SOURCE)


def running(document: Document, replicas: int = 1) -> CloudEvent:
    data = RunningData(**ref(document), replicas=replicas, ready_replicas=replicas)
    return ModelRunning.of(data, source=SOURCE)


async def settle_all(
    consumer: StatusConsumer, js: JetStreamContext, events: list[CloudEvent]
) -> None:
    for event in events:
        await publish_event(js, event)
    subscription = await js.pull_subscribe(EVENTS_WILDCARD, durable="test", stream=EVENTS_STREAM)
    messages = await subscription.fetch(len(events), timeout=2.0)
    assert len(messages) == len(events)
    await consumer._process_batch(messages)
    # Every event acked: an ack is a publish the server applies on its own time.
    for _ in range(100):
        info = await js.consumer_info(EVENTS_STREAM, "test")
        if (info.num_ack_pending, info.num_pending) == (0, 0):
            break
        await asyncio.sleep(0.02)
    assert (info.num_ack_pending, info.num_pending) == (0, 0)


def consumer_for(registry: Registry, nats_client: Client) -> StatusConsumer:
    return StatusConsumer(registry=registry, nats=nats_client, relay=cast(OutboxRelay, None))


async def statuses(db: AsyncDatabase[Document]) -> dict[str, tuple[str, Any, Any]]:
    cursor = db[Collection.MODELS].find({})
    return {
        d["name"]: (d["status"], d.get("replicas"), d.get("status_reason")) async for d in cursor
    }


@pytest.fixture
async def transactions(mongo_db: AsyncDatabase[Document]) -> AsyncIterator[TransactionSessions]:
    """The api's registered transaction session, as the runtime starts it."""
    sessions = TransactionSessions(mongo_db, service="api")
    await sessions.start()
    yield sessions
    await sessions.close()


async def test_a_batch_is_judged_in_order_and_stored_with_one_read_and_one_write(
    mongo_db: AsyncDatabase[Document],
    nats_client: Client,
    jetstream: JetStreamContext,
    transactions: TransactionSessions,
) -> None:
    await database.ensure_indexes(mongo_db, (Collection.MODELS,))
    registry = CountingRegistry(mongo_db, transactions=transactions)
    one, two, three = [await stored_model(registry, n, i) for i, n in enumerate("abc", 1)]
    now = datetime.now(UTC)
    assert await registry.mark_deleting(3, three["id"], now=now) is not None
    failed = FailedData(**ref(two), stage="runtime", reason="CrashLoopBackOff", message="exit 1")
    events = [
        applied(one),
        applied(two),
        running(one, replicas=2),
        applied(one),  # changes nothing once running
        ModelFailed.of(failed, source="/jan-models/inventory"),
        running(three),  # a deleting model listens to `deleted` alone
        ModelDeleted.of(DeletedData(**ref(three, generation=2)), source=SOURCE),
        running(two),  # a later event wins: failed -> running
    ]

    await settle_all(consumer_for(registry, nats_client), jetstream, events)

    assert registry.calls == ["by_public_ids", "write_all"]
    assert await statuses(mongo_db) == {"a": ("running", 2, None), "b": ("running", 1, None)}
    stored = await mongo_db[Collection.MODELS].find_one({"name": "b"})
    assert stored is not None
    assert stored["event_sequence"] == 8  # the last event's stream sequence


async def test_a_model_changed_between_read_and_write_has_the_batch_judged_again(
    mongo_db: AsyncDatabase[Document], nats_client: Client, jetstream: JetStreamContext
) -> None:
    await database.ensure_indexes(mongo_db, (Collection.MODELS,))
    registry = CountingRegistry(mongo_db)
    one, two = [await stored_model(registry, n, i) for i, n in enumerate("ab", 1)]

    async def delete_one() -> None:
        assert await registry.mark_deleting(3, one["id"], now=datetime.now(UTC)) is not None

    registry.meanwhile = delete_one

    await settle_all(
        consumer_for(registry, nats_client),
        jetstream,
        [applied(one), applied(two), running(one), running(two)],
    )

    # The batch's write for `a` lost its guard: the batch judged again from a fresh
    # read; `b`'s were stored already and are now stale, `a` is deleting and stays so,
    # so the second round has nothing to write.
    assert registry.calls == ["by_public_ids", "write_all", "by_public_ids"]
    assert await statuses(mongo_db) == {"a": ("deleting", None, None), "b": ("running", 1, None)}
