"""An inventory's stop ends, and takes its query answers with it, even when one of its
loops drops a cancellation (CI once hung 120 s here, and the half-stopped inventory then
answered the next tests' queries from its frozen store)."""

import asyncio

import pytest
from nats.aio.client import Client
from nats.errors import NoRespondersError

from services.inventory.app import running, wait_ready
from services.inventory.settings import InventorySettings
from shared.names import STATUS_QUERY_SUBJECT
from shared.queries import STATUS_ANSWER, StatusReply
from tests.inventory.support import ask

pytestmark = pytest.mark.integration


async def test_a_loop_that_drops_a_cancel_does_not_hang_the_stop(
    inventory_settings: InventorySettings, jetstream: object, nats_client: Client
) -> None:
    cancels: list[int] = []

    async def drops_the_first_cancel() -> None:
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancels.append(1)
                if len(cancels) > 1:
                    raise

    async with asyncio.timeout(30):
        async with running(inventory_settings) as service:
            await wait_ready(service, timeout=20)
            service._spawn(drops_the_first_cancel(), "drops-a-cancel")
            reply = await ask(nats_client, STATUS_QUERY_SUBJECT, STATUS_ANSWER)
            assert isinstance(reply, StatusReply)
            assert reply.connected

    assert len(cancels) == 2
    with pytest.raises(NoRespondersError):  # nobody left answering from a frozen store
        await nats_client.request(STATUS_QUERY_SUBJECT, b"", timeout=2)
