"""`/healthz` is the health of the connection the inventory works on: the one its queries
are answered and its events published over, pinged through its FastStream broker. Real
nats-server (stopped and started again), MongoDB-compatible server and kubesim."""

import httpx
import pytest

from jan_models.embedded import EmbeddedNats
from services.inventory.app import ProbeServer, running, wait_ready
from services.inventory.settings import InventorySettings
from shared import messaging
from shared.names import STATUS_QUERY_SUBJECT
from shared.queries import STATUS_ANSWER, StatusReply
from tests.plugins.servers import health_through_an_outage

pytestmark = pytest.mark.integration


async def test_health_is_that_of_the_connection_queries_are_answered_on(
    inventory_settings: InventorySettings, own_nats: EmbeddedNats
) -> None:
    settings = inventory_settings.model_copy(update={"nats_url": own_nats.url})
    async with running(settings) as inventory, httpx.AsyncClient() as http:
        await wait_ready(inventory, timeout=20)
        url = f"http://127.0.0.1:{inventory.http_port}/healthz"

        async def health(expected: int) -> bool:
            return (await http.get(url)).status_code == expected

        # one connection: the runtime's is the broker's, which /healthz pings
        assert isinstance(inventory.probes, ProbeServer)
        assert inventory.clients.nats is inventory.probes.broker.connection
        await health_through_an_outage(own_nats, health)
        # ...and that connection, reconnected, answers queries again
        nats = await messaging.connect(own_nats.url, name="tests")
        try:
            reply = await nats.request(STATUS_QUERY_SUBJECT, b"", timeout=5)
        finally:
            await nats.close()
        answer = STATUS_ANSWER.validate_json(reply.data)
        assert isinstance(answer, StatusReply)
        assert answer.connected
