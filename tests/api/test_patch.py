"""PATCH and restart through the api in-process: the outbox carries the new generation,
and a change is readmitted for the GPUs it adds (quota, capacity, a rollout's surge)."""

from typing import Any

import httpx
import orjson
import pytest
from nats.js import JetStreamContext
from pymongo.asynchronous.database import AsyncDatabase

from services.api.adapters.quotas import OrganizationQuotas
from services.api.settings import ApiSettings
from shared.commands import CreateModel
from shared.events import ModelUpdated, parse_event
from shared.messaging import MSG_ID_HEADER
from shared.names import COMMANDS_STREAM, CREATE_SUBJECT, EVENTS_STREAM, EVENTS_WILDCARD, Collection
from shared.records import Document
from shared.secrets import TokenCipher
from tests.api.conftest import FakeInventory, KeyFactory, gpu_placement, synced_status
from tests.api.test_outbox import messages_on, outbox_empty
from tests.api.test_status_events import created_model
from tests.waiting import poll

pytestmark = pytest.mark.integration

MODELS = "/v1/organization/models"
ROLLING = {"strategy": "RollingUpdate", "max_surge": 1, "max_unavailable": 0}


async def patch(
    http: httpx.AsyncClient, public_id: str, change: Any, headers: dict[str, str]
) -> httpx.Response:
    return await http.patch(
        f"{MODELS}/{public_id}",
        content=orjson.dumps(change),
        headers=headers | {"Content-Type": "application/merge-patch+json"},
    )


async def create(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    public_id: str = (await created_model(http, headers))["public_id"]
    return public_id


async def test_a_patch_publishes_the_new_generation_with_cause_update_and_the_updated_event(
    http: httpx.AsyncClient,
    key_for: KeyFactory,
    jetstream: JetStreamContext,
    mongo_db: AsyncDatabase[Document],
) -> None:
    headers = await key_for(123)
    public_id = await create(http, headers)
    await poll(lambda: outbox_empty(mongo_db), until=bool)
    path = f"{MODELS}/{public_id}"
    before = (await http.get(path, headers=headers)).json()["model"]["conditions"]

    response = await patch(
        http, public_id, {"deployment_config": {"image": "vllm/vllm-openai:v0.11.0"}}, headers
    )

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    assert (response.json()["model"]["status"], response.json()["model"]["generation"]) == (
        "updating",
        2,
    )
    await poll(lambda: outbox_empty(mongo_db), until=bool)
    first, second = await messages_on(jetstream, COMMANDS_STREAM, CREATE_SUBJECT)
    command = CreateModel.model_validate_json(second.data)
    assert second.headers[MSG_ID_HEADER] == f"{public_id}:create:2"
    assert (command.generation, command.cause) == (2, "update")
    assert command.deployment_config.image == "vllm/vllm-openai:v0.11.0"
    assert (
        command.hf_token_encrypted == CreateModel.model_validate_json(first.data).hf_token_encrypted
    )
    events = [
        parse_event(m.data) for m in await messages_on(jetstream, EVENTS_STREAM, EVENTS_WILDCARD)
    ]
    [updated] = [e for e in events if isinstance(e, ModelUpdated)]
    assert (updated.data.generation, updated.data.changed) == (2, ["deployment_config.image"])
    details = (await http.get(f"{MODELS}/{public_id}", headers=headers)).json()["model"]
    assert (details["status"], details["generation"]) == ("updating", 2)
    # Accepted is set with the change, in place (the change's answer shows it)
    answered = response.json()["model"]["conditions"]
    assert answered[0]["message"] == "generation 2 accepted"
    assert answered[0]["last_transition_time"] == before[0]["last_transition_time"]
    assert answered[1:] == before[1:]  # the others are the events' to move
    # the `updated` event, consumed, moves Progressing too
    shown = await poll(
        lambda: http.get(f"{MODELS}/{public_id}", headers=headers),
        until=lambda r: r.json()["model"]["conditions"][0]["message"] == "generation 2 accepted",
    )
    progressing = shown.json()["model"]["conditions"][3]
    assert (progressing["reason"], progressing["message"]) == (
        "NewGeneration",
        "generation 2 accepted",
    )


async def test_a_change_that_adds_gpus_counts_against_the_quota_for_what_it_adds(
    http: httpx.AsyncClient, key_for: KeyFactory, mongo_db: AsyncDatabase[Document]
) -> None:
    headers = await key_for(55)
    await OrganizationQuotas(mongo_db).set(55, gpus=9)
    public_id = await create(http, headers)  # 1 GPU x max_replicas 8

    over = {"deployment_config": {"autoscaling_config": {"max_replicas": 10}}}
    refused = await patch(http, public_id, over, headers)

    assert refused.status_code == 403, refused.text
    assert refused.json() == {
        "error": "GPU quota exceeded for organization 55: 2 requested, 8 of 9 in use"
    }
    model = (await http.get(f"{MODELS}/{public_id}", headers=headers)).json()["model"]
    assert (model["generation"], model["status"]) == (1, "creating")
    within = {"deployment_config": {"autoscaling_config": {"max_replicas": 9}}}
    assert (await patch(http, public_id, within, headers)).status_code == 200


async def test_a_surge_pod_needs_a_free_gpu_of_its_own_and_recreate_does_not(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    headers = await key_for(77)
    inventory.status = synced_status(placement=gpu_placement(allocatable=1))
    public_id = await create(http, headers)
    # its pod runs on the only GPU now
    inventory.status = synced_status(
        placement=gpu_placement(allocatable=1, allocated=1),
        bound_gpus={public_id: {"gpu-a100-1": 1}},
    )
    image = "vllm/vllm-openai:v0.11.0"

    surging = {"deployment_config": {"image": image, "rollout": ROLLING}}
    refused = await patch(http, public_id, surging, headers)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"].startswith("no GPU node can satisfy the requirements")
    more = {"deployment_config": {"autoscaling_config": {"min_replicas": 2}}}
    assert (await patch(http, public_id, more, headers)).status_code == 400

    recreated = await patch(http, public_id, {"deployment_config": {"image": image}}, headers)
    assert recreated.status_code == 200, recreated.text
    assert recreated.json()["model"]["generation"] == 2


async def test_restart_needs_no_body_and_answers_202_with_a_new_generation(
    http: httpx.AsyncClient, key_for: KeyFactory, mongo_db: AsyncDatabase[Document]
) -> None:
    headers = await key_for(123)
    public_id = await create(http, headers)

    restarted = await http.post(f"{MODELS}/{public_id}/restart", headers=headers)

    assert restarted.status_code == 202, restarted.text
    assert restarted.headers["etag"] == '"2"'
    assert restarted.json()["model"]["status"] == "updating"
    stored = await mongo_db[Collection.MODELS].find_one({"public_id": public_id})
    assert stored is not None
    assert stored["restarted_at"] is not None
    assert stored["generation"] == 2


async def test_secret_extra_env_and_the_token_rotate_encrypted_and_never_in_clear(
    http: httpx.AsyncClient,
    key_for: KeyFactory,
    jetstream: JetStreamContext,
    mongo_db: AsyncDatabase[Document],
    api_settings: ApiSettings,
) -> None:
    headers = await key_for(123)
    public_id = await create(http, headers)
    await poll(lambda: outbox_empty(mongo_db), until=bool)
    secret, token = "s3cr3t-" + "q" * 20, "hf_rotated_" + "z" * 20
    env = [{"name": "CUDA_VISIBLE_DEVICES", "value": "0"}, {"name": "API_KEY", "value": secret}]

    response = await patch(
        http,
        public_id,
        {"deployment_config": {"extra_env": env, "hugging_face_token": token}},
        headers,
    )

    assert response.status_code == 200, response.text
    details = await http.get(f"{MODELS}/{public_id}", headers=headers)
    for shown in (response, details):
        assert secret not in shown.text
        assert token not in shown.text
        config = shown.json()["model"]["deployment_config"]
        assert config["extra_env"] == [{"name": "CUDA_VISIBLE_DEVICES", "value": "0"}]
        assert config["secret_env_names"] == ["API_KEY"]
        assert config["has_hugging_face_token"] is True
    await poll(lambda: outbox_empty(mongo_db), until=bool)
    stored = await mongo_db[Collection.MODELS].find_one({"public_id": public_id})
    assert stored is not None
    assert secret not in str(stored)
    assert token not in str(stored)
    assert stored["deployment_config"]["secret_env_names"] == ["API_KEY"]
    *_, message = await messages_on(jetstream, COMMANDS_STREAM, CREATE_SUBJECT)
    assert secret.encode() not in message.data
    assert token.encode() not in message.data
    command = CreateModel.model_validate_json(message.data)
    cipher = TokenCipher(api_settings.encryption_key)
    assert command.hf_token_encrypted is not None
    assert command.secret_env_encrypted is not None
    assert cipher.decrypt(command.hf_token_encrypted).get_secret_value() == token
    assert cipher.decrypt_values(command.secret_env_encrypted)["API_KEY"].get_secret_value() == (
        secret
    )
    assert [e.name for e in command.deployment_config.extra_env] == ["CUDA_VISIBLE_DEVICES"]
    events = await messages_on(jetstream, EVENTS_STREAM, EVENTS_WILDCARD)
    updated = [parse_event(m.data) for m in events if m.subject.endswith(".updated")]
    assert [e.data.changed for e in updated] == [  # type: ignore[union-attr]
        ["deployment_config.hugging_face_token", "deployment_config.extra_env"]
    ]
    assert all(secret.encode() not in m.data and token.encode() not in m.data for m in events)


@pytest.mark.parametrize(
    ("bounds", "error"),
    [
        (
            {"min_replicas": 0},
            "deployment_config.autoscaling_config.min_replicas: "
            "Input should be greater than or equal to 1",
        ),
        (
            {"max_replicas": 1001},
            "deployment_config.autoscaling_config.max_replicas: "
            "Input should be less than or equal to 1000",
        ),
        (
            {"min_replicas": 1.5},
            "deployment_config.autoscaling_config.min_replicas: Input should be a valid integer",
        ),
        (
            {"min_replicas": 5, "max_replicas": 2},
            "deployment_config.autoscaling_config: "
            "autoscaling_config.min_replicas must be <= autoscaling_config.max_replicas",
        ),
    ],
    ids=["min-below-1", "max-above-1000", "fractional", "min-above-max"],
)
async def test_autoscaling_bounds_out_of_range_or_crossed_are_refused_and_change_nothing(
    http: httpx.AsyncClient, key_for: KeyFactory, bounds: dict[str, Any], error: str
) -> None:
    """The console checks the bounds with these words before it sends them."""
    headers = await key_for(123)
    public_id = await create(http, headers)
    before = (await http.get(f"{MODELS}/{public_id}", headers=headers)).json()["model"]

    response = await patch(
        http, public_id, {"deployment_config": {"autoscaling_config": bounds}}, headers
    )

    assert response.status_code == 400, response.text
    assert response.json() == {"error": error}
    after = (await http.get(f"{MODELS}/{public_id}", headers=headers)).json()["model"]
    assert after["generation"] == before["generation"] == 1
    assert after["deployment_config"] == before["deployment_config"]


async def test_new_autoscaling_bounds_show_in_the_details_as_a_new_generation(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = await key_for(123)
    public_id = await create(http, headers)
    bounds = {"min_replicas": 2, "max_replicas": 5}

    response = await patch(
        http, public_id, {"deployment_config": {"autoscaling_config": bounds}}, headers
    )

    assert response.status_code == 200, response.text
    details = (await http.get(f"{MODELS}/{public_id}", headers=headers)).json()["model"]
    for shown in (response.json()["model"], details):
        assert shown["generation"] == 2
        scaling = shown["deployment_config"]["autoscaling_config"]
        assert (scaling["min_replicas"], scaling["max_replicas"]) == (2, 5)
        assert scaling["target_value"] == "40"  # the rest as it was
