"""The api parses an inventory reply once per distinct content, never serves a stale one."""

import orjson
import pytest
from nats.aio.client import Client

from services.api.adapters.inventory import Inventory
from shared.queries import ModelsReply, StatusReply, WorkloadEntry
from tests.api.conftest import FakeInventory, cluster_status

pytestmark = pytest.mark.integration


async def test_an_unchanged_reply_is_reused_and_a_changed_one_is_read(
    nats_client: Client, inventory: FakeInventory
) -> None:
    client = Inventory(nats_client, timeout=2.0, status_cache_seconds=0.0)

    first = await client.status()
    again = await client.status()
    inventory.status = StatusReply(connected=True, cluster_status=cluster_status(aibrix_ok=False))
    changed = await client.status()

    assert again is first
    assert changed is not first
    assert changed.cluster_status.aibrix_ok is False
    rendered = orjson.loads(orjson.dumps({"cluster_status": client.cluster_status_json(changed)}))
    assert rendered["cluster_status"] == changed.cluster_status.model_dump(mode="json")


async def test_a_held_status_is_confirmed_by_its_version_not_sent_again(
    nats_client: Client, inventory: FakeInventory
) -> None:
    inventory.status = StatusReply(connected=True, cluster_status=cluster_status(), version="v-1")
    client = Inventory(nats_client, timeout=2.0, status_cache_seconds=0.0)

    first = await client.status()
    again = await client.status()
    inventory.status = StatusReply(
        connected=True, cluster_status=cluster_status(aibrix_ok=False), version="v-2"
    )
    changed = await client.status()

    assert again is first
    assert changed.cluster_status.aibrix_ok is False
    assert inventory.sent == ["StatusReply", "Unchanged", "StatusReply"]


def workloads(*names: str) -> list[WorkloadEntry]:
    return [
        WorkloadEntry(name=n, namespace="default", is_managed=False, status="Running", replicas=1)
        for n in names
    ]


async def test_the_models_list_is_read_again_when_it_changes_between_pages(
    nats_client: Client, inventory: FakeInventory
) -> None:
    inventory.models = ModelsReply(models=workloads("a", "b", "c"), total=3, version="m-1")
    inventory.models_page_size = 2
    client = Inventory(nats_client, timeout=2.0, status_cache_seconds=0.0)

    def change_once(fake: FakeInventory) -> None:
        fake.after_models_page = None
        fake.models = ModelsReply(models=workloads("a", "c", "d"), total=3, version="m-2")

    inventory.after_models_page = change_once
    entries, identity = await client.models()

    # Page 1 of m-1 then page 2 of m-2 would mix two lists ("a", "b", "d"): never served.
    assert [e.name for e in entries] == ["a", "c", "d"]
    assert identity == "m-2"
    inventory.sent.clear()
    again, same = await client.models()
    assert (again, same) == (entries, "m-2")
    assert inventory.sent == ["StatusReply", "Unchanged"]  # is it synced, then the list
