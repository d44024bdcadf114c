"""The outbox relay on small fakes: what it publishes, clears and retries, and when it sweeps."""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from bson import ObjectId
from nats.aio.client import Client
from nats.js.api import PubAck

from services.api.adapters.registry import Registry
from services.api.adapters.relay import OutboxRelay
from services.api.documents import new_model_document
from services.api.requests import CreateModelRequest
from services.api.web.examples import SEED_CREATE_REQUEST
from shared.records import Document


@dataclass
class FakeJetStream:
    fail: bool = False
    published: list[tuple[str, str]] = field(default_factory=list)

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> PubAck:
        if self.fail:
            raise TimeoutError("nats: timeout")
        self.published.append((subject, headers["Nats-Msg-Id"]))
        return PubAck(stream="S", seq=len(self.published))


@dataclass
class FakeNats:
    js: FakeJetStream
    is_connected: bool = True

    def jetstream(self, timeout: float = 5.0) -> FakeJetStream:
        return self.js


@dataclass
class FakeRegistry:
    documents: dict[ObjectId, Document] = field(default_factory=dict)
    due_queries: int = 0

    async def due(self, *, now: datetime, limit: int) -> list[Document]:
        self.due_queries += 1
        return [
            {"_id": key, "outbox": doc["outbox"]}
            for key, doc in self.documents.items()
            if "outbox" in doc and doc["outbox"]["due_at"] <= now
        ][:limit]

    async def clear_outbox(self, document_id: ObjectId, msg_id: str) -> bool:
        document = self.documents[document_id]
        if document.get("outbox", {}).get("msg_id") == msg_id:
            del document["outbox"]
            return True
        return False

    async def postpone(self, document_id: ObjectId, msg_id: str, *, due_at: datetime) -> None:
        self.documents[document_id]["outbox"]["due_at"] = due_at


def model_document(*, grace_passed: bool = True) -> Document:
    now = datetime.now(UTC)
    document = new_model_document(
        CreateModelRequest.model_validate(SEED_CREATE_REQUEST),
        model_id=1,
        public_id="mdl_abc123def456",
        organization_id=123,
        hf_token_encrypted=None,
        now=now,
        due_at=now if grace_passed else now.replace(year=now.year + 1),
    )
    document["_id"] = ObjectId()
    return document


def relay_with(
    registry: FakeRegistry, nats: FakeNats, *, grace: float = 0.0
) -> tuple[OutboxRelay, FakeRegistry]:
    relay = OutboxRelay(
        registry=cast(Registry, registry),
        nats=cast(Client, nats),
        interval=0.01,
        grace=grace,
        safety_interval=3600,
    )
    return relay, registry


async def test_publish_sends_event_then_command_and_clears_the_entry() -> None:
    js = FakeJetStream()
    relay, registry = relay_with(FakeRegistry(), FakeNats(js))
    document = model_document()
    registry.documents[document["_id"]] = document

    assert await relay.publish(document["_id"], document["outbox"])

    assert js.published[0][0] == "model.events.123.qwen3-coder-30b.accepted"
    assert js.published[1] == ("model.create", "mdl_abc123def456:create:1")
    assert "outbox" not in document


async def test_a_newer_entry_is_not_cleared_by_an_older_publish() -> None:
    relay, registry = relay_with(FakeRegistry(), FakeNats(FakeJetStream()))
    document = model_document()
    registry.documents[document["_id"]] = document
    older = dict(document["outbox"])
    document["outbox"] = {**older, "msg_id": "mdl_abc123def456:delete:2"}

    await relay.publish(document["_id"], older)

    assert document["outbox"]["msg_id"] == "mdl_abc123def456:delete:2"


async def test_a_failed_publish_is_retried_by_the_sweep_with_backoff() -> None:
    js = FakeJetStream(fail=True)
    relay, registry = relay_with(FakeRegistry(), FakeNats(js))
    document = model_document()
    registry.documents[document["_id"]] = document

    assert await relay.sweep() == 0
    assert document["outbox"]["due_at"] > datetime.now(UTC)
    js.fail = False
    document["outbox"]["due_at"] = datetime.now(UTC)
    assert await relay.sweep() == 1
    assert "outbox" not in document


async def test_no_sweep_queries_the_registry_while_nats_is_down() -> None:
    nats = FakeNats(FakeJetStream(), is_connected=False)
    relay, registry = relay_with(FakeRegistry(), nats)

    assert await relay.sweep() == 0
    assert registry.due_queries == 0


async def test_a_kick_skipped_while_disconnected_is_swept_once_back() -> None:
    nats = FakeNats(FakeJetStream(), is_connected=False)
    relay, registry = relay_with(FakeRegistry(), nats)
    runner = asyncio.create_task(relay.run())
    document = model_document()
    registry.documents[document["_id"]] = document
    try:
        await asyncio.sleep(0.05)  # the start-up sweep has run and found NATS down
        relay.kick(document["_id"], document["outbox"])
        nats.is_connected = True
        for _ in range(200):
            if "outbox" not in document:
                break
            await asyncio.sleep(0.01)
    finally:
        relay.stop()
        await runner
    assert "outbox" not in document
    assert nats.js.published[-1] == ("model.create", "mdl_abc123def456:create:1")
