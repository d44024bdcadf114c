"""The command backlog gauge reads JetStream's num_pending of the `deployer` consumer."""

import pytest
from nats.js import JetStreamContext

from services.deployer.adapters.jetstream import command_backlog, consumer_config, ensure_consumer
from shared.messaging import publish_command
from shared.names import COMMANDS_STREAM, DEPLOYER_DURABLE
from tests.shared.examples import seed_delete_command

pytestmark = pytest.mark.integration


async def test_the_backlog_is_what_the_deployer_consumer_has_not_been_given(
    jetstream: JetStreamContext,
) -> None:
    await ensure_consumer(jetstream, consumer_config(ack_wait=30, max_ack_pending=10))
    assert await command_backlog(jetstream) == 0
    for generation in (1, 2, 3):
        command = seed_delete_command().model_copy(update={"generation": generation})
        await publish_command(jetstream, command)
    assert await command_backlog(jetstream) == 3
    subscription = await jetstream.pull_subscribe_bind(
        durable=DEPLOYER_DURABLE, stream=COMMANDS_STREAM
    )
    for msg in await subscription.fetch(2, timeout=5):
        await msg.ack()
    assert await command_backlog(jetstream) == 1
