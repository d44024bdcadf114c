"""The rig is real: JetStream delivers, redelivers and deduplicates; MongoDB enforces and streams."""

import asyncio

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.messaging import MSG_ID_HEADER
from shared.names import COMMANDS_STREAM, CREATE_SUBJECT, DEPLOYER_DURABLE
from shared.records import Document

pytestmark = pytest.mark.integration


async def test_jetstream_publish_reaches_a_durable_pull_consumer(
    jetstream: JetStreamContext,
) -> None:
    await jetstream.publish(CREATE_SUBJECT, b"hello")
    sub = await jetstream.pull_subscribe(
        CREATE_SUBJECT, durable=DEPLOYER_DURABLE, stream=COMMANDS_STREAM
    )

    [msg] = await sub.fetch(1, timeout=5)
    await msg.ack()

    assert msg.data == b"hello"
    info = await jetstream.consumer_info(COMMANDS_STREAM, DEPLOYER_DURABLE)
    assert info.config.durable_name == DEPLOYER_DURABLE


async def test_a_nakd_message_is_redelivered(jetstream: JetStreamContext) -> None:
    await jetstream.publish(CREATE_SUBJECT, b"retry me")
    sub = await jetstream.pull_subscribe(
        CREATE_SUBJECT,
        durable=DEPLOYER_DURABLE,
        stream=COMMANDS_STREAM,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT),
    )

    [first] = await sub.fetch(1, timeout=5)
    await first.nak()
    [second] = await sub.fetch(1, timeout=5)
    await second.ack()

    assert second.data == b"retry me"
    assert second.metadata.num_delivered == 2


async def test_a_second_publish_with_the_same_msg_id_is_dropped(
    jetstream: JetStreamContext,
) -> None:
    headers = {MSG_ID_HEADER: "mdl_abc123def456:create:1"}

    first = await jetstream.publish(CREATE_SUBJECT, b"one", headers=headers)
    second = await jetstream.publish(CREATE_SUBJECT, b"one", headers=headers)

    assert not first.duplicate
    assert second.duplicate
    info = await jetstream.stream_info(COMMANDS_STREAM)
    assert info.state.messages == 1


async def test_a_unique_index_raises_duplicate_key_error(mongo_db: AsyncDatabase[Document]) -> None:
    await mongo_db.models.create_index([("namespace", 1), ("name", 1)], unique=True)
    await mongo_db.models.insert_one({"namespace": "jan-models", "name": "qwen"})

    with pytest.raises(DuplicateKeyError):
        await mongo_db.models.insert_one({"namespace": "jan-models", "name": "qwen"})


async def test_a_change_stream_sees_an_insert(mongo_db: AsyncDatabase[Document]) -> None:
    await mongo_db.create_collection("models")
    async with await mongo_db.models.watch() as stream:
        await mongo_db.models.insert_one({"name": "qwen"})
        change = await asyncio.wait_for(stream.next(), timeout=10)

    assert change["operationType"] == "insert"
    assert change["fullDocument"]["name"] == "qwen"
