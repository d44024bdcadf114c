"""The details' day-two fields over HTTP, fed by events on the real MODEL_EVENTS stream."""

from collections.abc import Awaitable
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.results import UpdateResult

from services.api.web.examples import SEED_CREATE_REQUEST, SEED_STORED_CONFIG
from shared.events import (
    AppliedData,
    DegradedData,
    FailedData,
    ModelApplied,
    ModelDegraded,
    ModelFailed,
    ModelRunning,
    RunningData,
)
from shared.names import Collection
from shared.records import Document
from shared.transactions import write_in_transaction
from tests.api.conftest import KeyFactory
from tests.api.test_status_events import (
    DEPLOYMENT,
    MODELS,
    SOURCE,
    created_model,
    detail,
    emit,
    ref,
    wait_status,
)
from tests.waiting import poll

pytestmark = pytest.mark.integration


async def applied(js: JetStreamContext, model: dict[str, Any]) -> None:
    """What the deployer says once it applied the model's objects."""
    await emit(js, ModelApplied.of(AppliedData(**ref(model), objects=[DEPLOYMENT]), source=SOURCE))


def conditions(model: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in model["conditions"]}


async def test_details_follow_a_model_through_its_life(
    http: httpx.AsyncClient, key_for: KeyFactory, jetstream: JetStreamContext
) -> None:
    headers = await key_for(5)
    model = await created_model(http, headers)

    await applied(jetstream, model)
    deploying = await wait_status(http, model, headers, "deploying")
    assert deploying["observed_generation"] == 1
    assert conditions(deploying)["Applied"] == ("True", "Applied")
    assert conditions(deploying)["Available"] == ("Unknown", "Pending")

    running = RunningData(**ref(model), replicas=1, ready_replicas=1, updated_replicas=1)
    await emit(jetstream, ModelRunning.of(running, source="/jan-models/inventory"))
    up = await wait_status(http, model, headers, "running")
    assert (up["replicas"], up["ready_replicas"], up["updated_replicas"]) == (1, 1, 1)
    assert conditions(up) == {
        "Accepted": ("True", "Accepted"),
        "Applied": ("True", "Applied"),
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
        "Degraded": ("False", "Running"),
    }

    crash = "torch.OutOfMemoryError: CUDA out of memory."
    degraded = DegradedData(
        **ref(model), replicas=1, ready_replicas=0, reason="CrashLoopBackOff", message=crash
    )
    await emit(jetstream, ModelDegraded.of(degraded, source="/jan-models/inventory"))
    failed = FailedData(**ref(model), stage="runtime", reason="CrashLoopBackOff", message=crash)
    await emit(jetstream, ModelFailed.of(failed, source="/jan-models/inventory"))
    down = await wait_status(http, model, headers, "failed")
    assert down["status_reason"] == f"CrashLoopBackOff: {crash}"
    assert down["ready_replicas"] == 0
    assert conditions(down)["Available"] == ("False", "CrashLoopBackOff")
    assert conditions(down)["Degraded"] == ("True", "CrashLoopBackOff")
    degraded_condition = next(c for c in down["conditions"] if c["type"] == "Degraded")
    assert degraded_condition["message"] == crash


async def test_an_applied_while_running_updates_conditions_without_moving_the_status(
    http: httpx.AsyncClient, key_for: KeyFactory, jetstream: JetStreamContext
) -> None:
    headers = await key_for(5)
    model = await created_model(http, headers)
    running = RunningData(**ref(model), replicas=1, ready_replicas=1)
    await emit(jetstream, ModelRunning.of(running, source="/jan-models/inventory"))
    up = await wait_status(http, model, headers, "running")
    assert conditions(up)["Applied"] == ("Unknown", "Pending")

    await applied(jetstream, model)
    after = await poll(
        lambda: detail(http, model, headers),
        until=lambda d: conditions(d)["Applied"] == ("True", "Applied"),
    )
    assert after["status"] == "running"


async def test_details_show_the_deployment_config_as_stored_without_the_token(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = await key_for(5)
    model = await created_model(http, headers)

    response = await http.get(f"{MODELS}/{model['public_id']}", headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["model"]["deployment_config"] == SEED_STORED_CONFIG
    assert SEED_CREATE_REQUEST["deployment_config"]["hugging_face_token"] not in response.text


async def test_a_model_stored_by_an_older_version_shows_the_defaults_and_no_secret_value(
    http: httpx.AsyncClient, key_for: KeyFactory, mongo_db: AsyncDatabase[Document]
) -> None:
    """Before `replicas` and `rollout` existed, and before secret `extra_env` entries were
    kept apart (`secret_env_names`), a model's stored config lacked them and held such an
    entry's value as given."""
    headers = await key_for(5)
    model = await created_model(http, headers)
    in_clear = "hf_stored_in_clear_" + "k" * 16
    older = {
        "$unset": {
            "deployment_config.replicas": "",
            "deployment_config.rollout": "",
            "deployment_config.secret_env_names": "",
        },
        "$push": {"deployment_config.extra_env": {"name": "HF_TOKEN", "value": in_clear}},
    }
    models = mongo_db[Collection.MODELS]

    def write(session: AsyncClientSession | None) -> Awaitable[UpdateResult]:
        return models.update_one({"public_id": model["public_id"]}, older, session=session)

    assert (await write_in_transaction(models, write)).modified_count == 1

    # The api serves details from its registry cache, which follows the change stream:
    # a write made around the api shows once the cache has it.
    response = await poll(
        lambda: http.get(f"{MODELS}/{model['public_id']}", headers=headers),
        until=lambda answer: (
            answer.status_code != 200
            or "secret_env_names" not in answer.json()["model"]["deployment_config"]
            or answer.json()["model"]["deployment_config"]["secret_env_names"] != []
        ),
        timeout=5.0,
    )

    assert response.status_code == 200, response.text
    config = response.json()["model"]["deployment_config"]
    assert config["replicas"] == 1
    assert config["rollout"] == {"strategy": "Recreate", "max_surge": 0, "max_unavailable": 1}
    assert config["extra_env"] == SEED_STORED_CONFIG["extra_env"]
    assert config["secret_env_names"] == ["HF_TOKEN"]
    assert in_clear not in response.text
