"""The Hugging Face token is never stored in clear, echoed, published in clear or logged."""

import logging
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from services.api.settings import ApiSettings
from services.api.web.examples import SEED_CREATE_REQUEST
from shared.commands import CreateModel
from shared.names import COMMANDS_STREAM, CREATE_SUBJECT, EVENTS_STREAM, EVENTS_WILDCARD
from shared.records import Document
from shared.secrets import TokenCipher
from tests.api.conftest import KeyFactory
from tests.api.test_outbox import messages_on, outbox_empty
from tests.waiting import poll

pytestmark = pytest.mark.integration

MODELS = "/v1/organization/models"
TOKEN = SEED_CREATE_REQUEST["deployment_config"]["hugging_face_token"]


def record_text(record: logging.LogRecord) -> str:
    return f"{record.getMessage()} {vars(record)!r}"


async def test_the_token_appears_nowhere_in_clear(
    http: httpx.AsyncClient,
    key_for: KeyFactory,
    mongo_db: AsyncDatabase[Document],
    jetstream: JetStreamContext,
    api_settings: ApiSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = await key_for(123)
    responses: list[httpx.Response] = []
    created = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)
    responses.append(created)
    model: dict[str, Any] = created.json()["model"]
    responses.append(await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers))
    responses.append(await http.get(MODELS, headers=headers))
    details = await http.get(f"{MODELS}/{model['id']}", headers=headers)
    responses.append(details)
    await poll(lambda: outbox_empty(mongo_db), until=bool)

    assert all(TOKEN not in r.text for r in responses)
    assert details.json()["model"]["deployment_config"]["has_hugging_face_token"] is True
    for name in await mongo_db.list_collection_names():
        async for document in mongo_db[name].find():
            assert TOKEN not in repr(document), name
    stored = await mongo_db["models"].find_one({"id": model["id"]})
    assert stored is not None
    assert stored["deployment_config"]["has_hugging_face_token"] is True
    assert "hugging_face_token" not in stored["deployment_config"]
    for message in [
        *await messages_on(jetstream, COMMANDS_STREAM, CREATE_SUBJECT),
        *await messages_on(jetstream, EVENTS_STREAM, EVENTS_WILDCARD),
    ]:
        assert TOKEN.encode() not in message.data
    [command] = await messages_on(jetstream, COMMANDS_STREAM, CREATE_SUBJECT)
    encrypted = CreateModel.model_validate_json(command.data).hf_token_encrypted
    assert encrypted is not None
    assert TokenCipher(api_settings.encryption_key).decrypt(encrypted) == SecretStr(TOKEN)
    assert caplog.records, "the api logs its requests"
    assert all(TOKEN not in record_text(r) for r in caplog.records)


async def test_a_model_without_token_says_so(
    http: httpx.AsyncClient, key_for: KeyFactory, mongo_db: AsyncDatabase[Document]
) -> None:
    body = {**SEED_CREATE_REQUEST}
    body["deployment_config"] = {
        k: v for k, v in body["deployment_config"].items() if k != "hugging_face_token"
    }
    headers = await key_for(1)
    response = await http.post(MODELS, json=body, headers=headers)
    stored = await mongo_db["models"].find_one({"id": response.json()["model"]["id"]})
    assert stored is not None
    assert stored["deployment_config"]["has_hugging_face_token"] is False
    assert stored["hf_token_encrypted"] is None
    details = await http.get(f"{MODELS}/{stored['public_id']}", headers=headers)
    assert details.json()["model"]["deployment_config"]["has_hugging_face_token"] is False
