"""The outbox relay on small fakes: what it publishes, clears and retries, and when it sweeps."""

import asyncio
from datetime import UTC, datetime
from typing import cast

from nats.aio.client import Client

from services.api.adapters.registry import Registry
from services.api.adapters.relay import OutboxRelay
from shared.records import Document
from tests.api.fakes import FakeJetStream, FakeNats, FakeRegistry, model_document


def stored_model(registry: FakeRegistry) -> Document:
    """A model pending its create command, as stored: the relay's writes show on it."""
    return registry.stored(registry.put(model_document())["public_id"])


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
    document = stored_model(registry)

    assert await relay.publish(document["_id"], document["outbox"])

    assert js.published[0][0] == "model.events.123.qwen3-coder-30b.accepted"
    assert js.published[1] == ("model.create", "mdl_abc123def456:create:1")
    assert "outbox" not in document


async def test_a_newer_entry_is_not_cleared_by_an_older_publish() -> None:
    relay, registry = relay_with(FakeRegistry(), FakeNats(FakeJetStream()))
    document = stored_model(registry)
    older = dict(document["outbox"])
    document["outbox"] = {**older, "msg_id": "mdl_abc123def456:delete:2"}

    await relay.publish(document["_id"], older)

    assert document["outbox"]["msg_id"] == "mdl_abc123def456:delete:2"


async def test_a_failed_publish_is_retried_by_the_sweep_with_backoff() -> None:
    js = FakeJetStream(fail=True)
    relay, registry = relay_with(FakeRegistry(), FakeNats(js))
    document = stored_model(registry)

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
    assert "registry.due" not in registry.calls


async def test_a_kick_skipped_while_disconnected_is_swept_once_back() -> None:
    nats = FakeNats(FakeJetStream(), is_connected=False)
    relay, registry = relay_with(FakeRegistry(), nats)
    runner = asyncio.create_task(relay.run())
    document = stored_model(registry)
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
