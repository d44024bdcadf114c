"""An event the inventory derives is never lost to a NATS outage, nor published twice.

The lifecycle memory is saved only after the event is acknowledged, and each transition
has a deterministic `Nats-Msg-Id`: an inventory stopped while NATS is down derives the
event again after its restart, and one whose memory was lost after the publish derives
it again only for JetStream to drop it. Real nats-server (stopped and restarted on its
own store), MongoDB-compatible server and kubesim.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, AppsV1Api
from nats.js.errors import NotFoundError
from pymongo.asynchronous.database import AsyncDatabase

from jan_models.embedded import EmbeddedNats
from services.inventory.app import running, wait_ready
from services.inventory.runtime import InventoryRuntime
from services.inventory.settings import InventorySettings
from shared import messaging
from shared.events import parse_event
from shared.names import EVENTS_STREAM, Collection
from shared.records import Document
from tests.inventory.support import deployment
from tests.waiting import poll

pytestmark = pytest.mark.integration

MODEL: dict[str, Any] = {
    "organization_id": 123,
    "public_id": "mdl_outage000001",
    "model_id": 7,
    "generation": 1,
}
RUNNING_SUBJECT = "model.events.123.outage.running"


@asynccontextmanager
async def inventory_on(
    settings: InventorySettings, nats: EmbeddedNats
) -> AsyncIterator[InventoryRuntime]:
    async with running(settings.model_copy(update={"nats_url": nats.url})) as service:
        await wait_ready(service, timeout=20)
        yield service


async def running_events(nats: EmbeddedNats) -> list[str]:
    """The CloudEvent ids of every `running` event of the model in the stream."""
    nc = await messaging.connect(nats.url, name="test-reader")
    try:
        js = nc.jetstream()
        state = (await js.stream_info(EVENTS_STREAM)).state
        found: list[str] = []
        if state.messages == 0:
            return found
        for sequence in range(state.first_seq, state.last_seq + 1):
            try:
                message = await js.get_msg(EVENTS_STREAM, sequence)
            except NotFoundError:
                continue
            if message.subject == RUNNING_SUBJECT:
                found.append(parse_event(message.data or b"").id)
        return found
    finally:
        await nc.close()


async def stored_state(db: AsyncDatabase[Document]) -> str | None:
    memory = await db[Collection.INVENTORY_MODELS].find_one({"_id": MODEL["public_id"]})
    return None if memory is None else str(memory.get("state"))


async def test_an_inventory_stopped_while_nats_is_down_publishes_the_event_after_restart(
    own_nats: EmbeddedNats,
    inventory_settings: InventorySettings,
    mongo_db: AsyncDatabase[Document],
    kube: ApiClient,
) -> None:
    async with inventory_on(inventory_settings, own_nats) as inventory:
        await own_nats.astop()
        await AppsV1Api(kube).create_namespaced_deployment(
            "default",
            deployment("outage", managed=MODEL),  # type: ignore[arg-type]
        )
        # The transition is derived; its publish fails and stays queued, round after
        # round (each round would save the memories right after trying to publish)...
        await poll(
            lambda: asyncio.sleep(0, inventory.publisher.failures),
            until=lambda n: n >= 2,
            timeout=60,
        )
        assert inventory.publisher.queue
        assert inventory.tracker.memories[MODEL["public_id"]].state == "running"
        # ...and the memory that would say "already emitted" is not saved ahead of it.
        assert await stored_state(mongo_db) != "running"

    await own_nats.astart()
    async with inventory_on(inventory_settings, own_nats):
        await poll(lambda: running_events(own_nats), until=bool, timeout=30)
        await poll(lambda: stored_state(mongo_db), until=lambda s: s == "running", timeout=30)

    assert len(await running_events(own_nats)) == 1


async def test_an_event_re_derived_after_a_lost_memory_is_not_published_twice(
    own_nats: EmbeddedNats,
    inventory_settings: InventorySettings,
    mongo_db: AsyncDatabase[Document],
    kube: ApiClient,
) -> None:
    async with inventory_on(inventory_settings, own_nats):
        await AppsV1Api(kube).create_namespaced_deployment(
            "default",
            deployment("outage", managed=MODEL),  # type: ignore[arg-type]
        )
        [first] = await poll(lambda: running_events(own_nats), until=bool, timeout=30)
        await poll(lambda: stored_state(mongo_db), until=lambda s: s == "running", timeout=30)
    # The process died after the publish and before its memory was saved.
    await mongo_db[Collection.INVENTORY_MODELS].delete_one({"_id": MODEL["public_id"]})

    async with inventory_on(inventory_settings, own_nats):
        await poll(lambda: stored_state(mongo_db), until=lambda s: s == "running", timeout=30)

    assert await running_events(own_nats) == [first]
