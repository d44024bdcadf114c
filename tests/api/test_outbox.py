"""Commands reach JetStream through the outbox, also when NATS was down at create time."""

import copy
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pymongo.asynchronous.database import AsyncDatabase

from jan_models.embedded import EmbeddedNats, free_port
from services.api.settings import ApiSettings
from services.api.web.examples import SEED_CREATE_REQUEST
from shared import messaging
from shared.commands import CreateModel, DeleteModel
from shared.events import parse_event
from shared.messaging import MSG_ID_HEADER
from shared.names import (
    COMMANDS_STREAM,
    CREATE_SUBJECT,
    DELETE_SUBJECT,
    EVENTS_STREAM,
    EVENTS_WILDCARD,
    Collection,
)
from shared.records import Document
from tests.api.conftest import FakeInventory, KeyFactory, settings_for
from tests.api.test_http_errors import client_for, cpu_only
from tests.waiting import poll

pytestmark = pytest.mark.integration

MODELS = "/v1/organization/models"


@dataclass(frozen=True)
class Stored:
    subject: str
    data: bytes
    headers: dict[str, str]


async def messages_on(js: JetStreamContext, stream: str, subject: str) -> list[Stored]:
    """Every stored message of a stream on a subject (`x.>` matches its prefix), by direct get."""
    state = (await js.stream_info(stream)).state
    found = []
    for sequence in range(state.first_seq, state.last_seq + 1):
        if state.messages == 0:
            break
        try:
            message = await js.get_msg(stream, sequence)
        except NotFoundError:
            continue
        matches = message.subject == subject or (
            subject.endswith(".>") and (message.subject or "").startswith(subject[:-1])
        )
        if matches:
            found.append(
                Stored(message.subject or "", message.data or b"", dict(message.headers or {}))
            )
    return found


async def outbox_empty(mongo_db: AsyncDatabase[Document]) -> bool:
    return await mongo_db[Collection.MODELS].count_documents({"outbox": {"$exists": True}}) == 0


async def test_create_publishes_the_command_and_the_accepted_event(
    http: httpx.AsyncClient,
    key_for: KeyFactory,
    jetstream: JetStreamContext,
    mongo_db: AsyncDatabase[Document],
) -> None:
    created = (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=await key_for(123))).json()

    await poll(lambda: outbox_empty(mongo_db), until=bool)
    [command_msg] = await messages_on(jetstream, COMMANDS_STREAM, CREATE_SUBJECT)
    [event_msg] = await messages_on(jetstream, EVENTS_STREAM, EVENTS_WILDCARD)

    command = CreateModel.model_validate_json(command_msg.data)
    public_id = created["model"]["public_id"]
    assert command_msg.headers[MSG_ID_HEADER] == f"{public_id}:create:1"
    assert (command.public_id, command.organization_id, command.generation) == (public_id, 123, 1)
    assert command.cause == "create"
    assert command.deployment_config.args == SEED_CREATE_REQUEST["deployment_config"]["args"]
    event = parse_event(event_msg.data)
    assert event_msg.subject == "model.events.123.qwen3-coder-30b.accepted"
    assert (event.type, event.source, event.subject) == (
        "ai.jan.model.accepted",
        "/jan-models/api",
        public_id,
    )


async def test_delete_publishes_model_delete_and_the_deleting_event(
    http: httpx.AsyncClient,
    key_for: KeyFactory,
    jetstream: JetStreamContext,
    mongo_db: AsyncDatabase[Document],
) -> None:
    headers = await key_for(9)
    created = (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)).json()["model"]
    await http.delete(f"{MODELS}/{created['public_id']}", headers=headers)

    await poll(lambda: outbox_empty(mongo_db), until=bool)
    deletes = await messages_on(jetstream, COMMANDS_STREAM, DELETE_SUBJECT)
    events = await messages_on(jetstream, EVENTS_STREAM, EVENTS_WILDCARD)

    assert len(deletes) == 1
    command = DeleteModel.model_validate_json(deletes[0].data)
    assert (command.public_id, command.generation) == (created["public_id"], 2)
    assert deletes[0].headers[MSG_ID_HEADER] == f"{created['public_id']}:delete:2"
    assert [parse_event(m.data).type for m in events] == [
        "ai.jan.model.accepted",
        "ai.jan.model.deleting",
    ]


async def test_a_second_delete_sends_the_command_again_with_a_message_id_of_its_own(
    http: httpx.AsyncClient,
    key_for: KeyFactory,
    jetstream: JetStreamContext,
    mongo_db: AsyncDatabase[Document],
) -> None:
    headers = await key_for(9)
    created = (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)).json()["model"]
    assert (await http.delete(f"{MODELS}/{created['id']}", headers=headers)).status_code == 204
    await poll(lambda: outbox_empty(mongo_db), until=bool)

    again = await http.delete(f"{MODELS}/{created['id']}", headers=headers)
    await poll(lambda: outbox_empty(mongo_db), until=bool)
    deletes = await messages_on(jetstream, COMMANDS_STREAM, DELETE_SUBJECT)
    events = await messages_on(jetstream, EVENTS_STREAM, EVENTS_WILDCARD)

    assert again.status_code == 204
    public_id = created["public_id"]
    assert [m.headers[MSG_ID_HEADER] for m in deletes] == [
        f"{public_id}:delete:2",
        f"{public_id}:delete:2:1",
    ]
    assert [DeleteModel.model_validate_json(m.data).attempt for m in deletes] == [0, 1]
    assert [parse_event(m.data).type for m in events] == [  # one `deleting`, not two
        "ai.jan.model.accepted",
        "ai.jan.model.deleting",
    ]


async def test_a_create_while_nats_is_down_is_delivered_once_it_is_back(
    tmp_path: Path, mongodb_url: str, mongo_db: AsyncDatabase[Document], key_for: KeyFactory
) -> None:
    nats = EmbeddedNats(
        name="own-nats", port=free_port(), log_path=tmp_path / "nats.log", store_dir=tmp_path / "js"
    )
    await nats.astart()
    watcher = await messaging.connect(nats.url, name="test-watcher")
    try:
        inventory = FakeInventory()
        await watcher.subscribe("inventory.query.status", cb=inventory.on_status)
        settings: ApiSettings = settings_for(
            nats_url=nats.url,
            mongodb_url=mongodb_url,
            database=mongo_db.name,
            api_status_cache_seconds=60.0,
        )
        headers = await key_for(4)
        async with client_for(settings) as http:
            before = await http.post(MODELS, json=cpu_only(), headers=headers)
            assert before.status_code == 201
            await poll(lambda: outbox_empty(mongo_db), until=bool)

            await nats.astop()
            during_body = copy.deepcopy(cpu_only())
            during_body["name"] = "made-while-down"
            args = during_body["deployment_config"]["args"]
            args[1] = args[1].replace("qwen3-coder-30b --tool", "made-while-down --tool")
            during = await http.post(MODELS, json=during_body, headers=headers)
            assert during.status_code == 201
            assert not await outbox_empty(mongo_db)

            await nats.astart()
            await poll(lambda: outbox_empty(mongo_db), until=bool, timeout=15)

        js = watcher.jetstream()
        commands = await poll(
            lambda: messages_on(js, COMMANDS_STREAM, CREATE_SUBJECT),
            until=lambda found: len(found) == 2,
        )
        names = [CreateModel.model_validate_json(m.data).name for m in commands]
        assert names == ["qwen3-coder-30b", "made-while-down"]
        assert orjson.loads(during.content)["model"]["status"] == "creating"
    finally:
        await watcher.close()
        await nats.astop()


async def test_a_callers_traceparent_follows_the_create_into_its_command_and_event(
    http: httpx.AsyncClient,
    key_for: KeyFactory,
    jetstream: JetStreamContext,
    mongo_db: AsyncDatabase[Document],
) -> None:
    trace_id, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {**await key_for(123), "traceparent": f"00-{trace_id}-{caller_span}-01"}
    await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)
    untraced = copy.deepcopy(SEED_CREATE_REQUEST) | {"name": "untraced"}
    untraced["deployment_config"]["args"] = ["--served-model-name", "untraced"]
    bad = {**await key_for(123), "traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}
    await http.post(MODELS, json=untraced, headers=bad)

    await poll(lambda: outbox_empty(mongo_db), until=bool)
    traced, fresh = (
        CreateModel.model_validate_json(m.data)
        for m in await messages_on(jetstream, COMMANDS_STREAM, CREATE_SUBJECT)
    )
    events = [
        parse_event(m.data) for m in await messages_on(jetstream, EVENTS_STREAM, EVENTS_WILDCARD)
    ]
    assert traced.traceparent is not None
    version, trace, span, flags = traced.traceparent.split("-")
    assert (version, trace, flags) == ("00", trace_id, "01")
    assert span != caller_span  # the api's own span in the caller's trace
    assert events[0].traceparent == traced.traceparent
    # an all-zero trace id is no trace: the api starts its own
    assert fresh.traceparent is not None
    assert fresh.traceparent.split("-")[1] not in (trace_id, "0" * 32)
    assert events[1].traceparent == fresh.traceparent
