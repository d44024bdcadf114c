"""The api parses an inventory reply once per distinct content, never serves a stale one."""

import orjson
import pytest
from nats.aio.client import Client

from services.api.adapters.inventory import Inventory
from shared.queries import StatusReply
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
