"""Events published onto the real MODEL_EVENTS stream move the registry's statuses."""

from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext
from pymongo.asynchronous.database import AsyncDatabase

from services.api.web.examples import SEED_CREATE_REQUEST
from shared.commands import CreateModel, ModelRef
from shared.events import (
    AppliedData,
    CloudEvent,
    DeletedData,
    DriftedData,
    FailedData,
    ModelApplied,
    ModelDeleted,
    ModelDrifted,
    ModelFailed,
    ModelRunning,
    ModelScaled,
    ObjectRef,
    RunningData,
    ScaledData,
)
from shared.messaging import MSG_ID_HEADER, publish_event
from shared.names import COMMANDS_STREAM, CREATE_SUBJECT, Collection
from shared.records import Document
from tests.api.conftest import KeyFactory
from tests.api.test_outbox import messages_on, outbox_empty
from tests.waiting import poll

pytestmark = pytest.mark.integration

MODELS = "/v1/organization/models"
SOURCE = "/jan-models/deployer"
DEPLOYMENT = ObjectRef(api_version="apps/v1", kind="Deployment", name="qwen3-coder-30b")


def ref(model: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    return ModelRef(
        organization_id=model["organization_id"],
        model_id=model["id"],
        public_id=model["public_id"],
        name=model["name"],
        generation=generation,
    ).model_dump()


async def emit(js: JetStreamContext, event: CloudEvent) -> None:
    await publish_event(js, event)


async def created_model(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)
    model: dict[str, Any] = response.json()["model"]
    return model


async def detail(http: httpx.AsyncClient, model: dict[str, Any], headers: dict[str, str]) -> Any:
    response = await http.get(f"{MODELS}/{model['public_id']}", headers=headers)
    return response.json().get("model") if response.status_code == 200 else None


async def wait_status(
    http: httpx.AsyncClient, model: dict[str, Any], headers: dict[str, str], status: str | None
) -> Any:
    return await poll(
        lambda: detail(http, model, headers),
        until=lambda d: d is None if status is None else d is not None and d["status"] == status,
    )


async def test_applied_running_failed_move_the_status(
    http: httpx.AsyncClient, key_for: KeyFactory, jetstream: JetStreamContext
) -> None:
    headers = await key_for(123)
    model = await created_model(http, headers)

    await emit(
        jetstream, ModelApplied.of(AppliedData(**ref(model), objects=[DEPLOYMENT]), source=SOURCE)
    )
    await wait_status(http, model, headers, "deploying")
    await emit(
        jetstream,
        ModelRunning.of(RunningData(**ref(model), replicas=1, ready_replicas=1), source=SOURCE),
    )
    running = await wait_status(http, model, headers, "running")
    assert "status_reason" not in running
    await emit(
        jetstream,
        ModelFailed.of(
            FailedData(**ref(model), stage="runtime", reason="CrashLoopBackOff", message="exit 1"),
            source="/jan-models/inventory",
        ),
    )
    failed = await wait_status(http, model, headers, "failed")
    assert failed["status_reason"] == "CrashLoopBackOff: exit 1"


async def test_scaled_records_replicas_without_moving_the_status(
    http: httpx.AsyncClient,
    key_for: KeyFactory,
    jetstream: JetStreamContext,
    mongo_db: AsyncDatabase[Document],
) -> None:
    headers = await key_for(123)
    model = await created_model(http, headers)
    await emit(
        jetstream,
        ModelScaled.of(
            ScaledData(**ref(model), replicas=3, ready_replicas=2, previous_replicas=1),
            source=SOURCE,
        ),
    )

    async def replicas() -> Document | None:
        return await mongo_db[Collection.MODELS].find_one(
            {"public_id": model["public_id"], "replicas": 3}
        )

    stored = await poll(replicas, until=lambda d: d is not None)
    assert stored is not None
    assert (stored["status"], stored["ready_replicas"]) == ("creating", 2)


async def test_deleted_removes_the_model_and_frees_its_name(
    http: httpx.AsyncClient, key_for: KeyFactory, jetstream: JetStreamContext
) -> None:
    headers = await key_for(123)
    model = await created_model(http, headers)
    assert (await http.delete(f"{MODELS}/{model['id']}", headers=headers)).status_code == 204

    late = RunningData(**ref(model, generation=1), replicas=1, ready_replicas=1)
    await emit(jetstream, ModelRunning.of(late, source=SOURCE))
    await emit(jetstream, ModelDeleted.of(DeletedData(**ref(model, generation=2)), source=SOURCE))
    await wait_status(http, model, headers, None)

    assert (await http.get(f"{MODELS}/{model['id']}", headers=headers)).status_code == 404
    again = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)
    assert again.status_code == 201


async def test_a_late_running_never_moves_a_deleting_model_back(
    http: httpx.AsyncClient,
    key_for: KeyFactory,
    jetstream: JetStreamContext,
    mongo_db: AsyncDatabase[Document],
) -> None:
    headers = await key_for(123)
    model = await created_model(http, headers)
    await http.delete(f"{MODELS}/{model['id']}", headers=headers)
    late = RunningData(**ref(model, generation=2), replicas=1, ready_replicas=1)
    await emit(jetstream, ModelRunning.of(late, source=SOURCE))
    marker = await created_marker(http, headers, jetstream)

    await wait_status(http, marker, headers, "deploying")
    assert (await detail(http, model, headers))["status"] == "deleting"


async def created_marker(
    http: httpx.AsyncClient, headers: dict[str, str], jetstream: JetStreamContext
) -> dict[str, Any]:
    """A second model whose `applied` comes after the events under test on the stream."""
    body = {**SEED_CREATE_REQUEST, "name": "marker"}
    body["deployment_config"] = {
        **body["deployment_config"],
        "enable_autoscaling": False,
        "args": [],
    }
    marker: dict[str, Any] = (await http.post(MODELS, json=body, headers=headers)).json()["model"]
    marker_ref = ref(marker)
    marker_ref["name"] = "marker"
    await emit(jetstream, ModelApplied.of(AppliedData(**marker_ref, objects=[]), source=SOURCE))
    return marker


async def test_drift_is_repaired_from_the_registry_in_the_same_generation(
    http: httpx.AsyncClient,
    key_for: KeyFactory,
    jetstream: JetStreamContext,
    mongo_db: AsyncDatabase[Document],
) -> None:
    headers = await key_for(123)
    model = await created_model(http, headers)
    await emit(
        jetstream,
        ModelRunning.of(RunningData(**ref(model), replicas=1, ready_replicas=1), source=SOURCE),
    )
    await wait_status(http, model, headers, "running")

    drifted = DriftedData(**ref(model), missing=[DEPLOYMENT])
    await emit(jetstream, ModelDrifted.of(drifted, source="/jan-models/inventory"))
    degraded = await wait_status(http, model, headers, "degraded")
    assert degraded["status_reason"] == "repairing: DeploymentMissing: Deployment/qwen3-coder-30b"
    await poll(lambda: outbox_empty(mongo_db), until=bool)
    messages = await messages_on(jetstream, COMMANDS_STREAM, CREATE_SUBJECT)
    creates = [CreateModel.model_validate_json(m.data) for m in messages]
    # A repair changes nothing that runs: same generation (the pod template is unchanged,
    # so repairing another object restarts no pod), its own message id.
    assert [(c.cause, c.generation, c.attempt) for c in creates] == [
        ("create", 1, 0),
        ("repair", 1, 1),
    ]
    assert [m.headers[MSG_ID_HEADER] for m in messages] == [
        f"{model['public_id']}:create:1",
        f"{model['public_id']}:create:1:1",
    ]
    assert creates[1].hf_token_encrypted == creates[0].hf_token_encrypted is not None
    assert creates[1].deployment_config == creates[0].deployment_config
    detail = (await http.get(f"{MODELS}/{model['id']}", headers=headers)).json()["model"]
    assert detail.get("generation", 1) == 1

    await emit(
        jetstream,
        ModelScaled.of(
            ScaledData(**ref(model), replicas=5, ready_replicas=0, previous_replicas=1),
            source=SOURCE,
        ),
    )

    async def scaled() -> Document | None:
        return await mongo_db[Collection.MODELS].find_one(
            {"public_id": model["public_id"], "replicas": 5}
        )

    after_scale = await poll(scaled, until=lambda d: d is not None)
    assert after_scale is not None
    assert after_scale["status"] == "degraded"
    fresh = RunningData(**ref(model), replicas=1, ready_replicas=1)
    await emit(jetstream, ModelRunning.of(fresh, source=SOURCE))
    running = await wait_status(http, model, headers, "running")
    assert "status_reason" not in running
