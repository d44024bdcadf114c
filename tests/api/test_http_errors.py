"""Every error of the seed with its exact text, and the api's own refusals, through HTTP."""

import copy
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.api.adapters.api_keys import ApiKeys
from services.api.app import running
from services.api.settings import ApiSettings
from services.api.web.examples import SEED_CREATE_REQUEST
from shared.queries import QueryError, StatusReply
from shared.records import Document
from tests.api.conftest import (
    FakeInventory,
    KeyFactory,
    cluster_status,
    gpu_placement,
    synced_status,
)

pytestmark = pytest.mark.integration

MODELS = "/v1/organization/models"
SEED_MISMATCH = (
    "--served-model-name 'wrong-name' must match model name 'qwen3-coder-30b' "
    "(required by Aibrix for autoscaling)"
)


def cpu_only() -> dict[str, Any]:
    body = copy.deepcopy(SEED_CREATE_REQUEST)
    body["requirements"] = {"cpu": "2", "memory": "4Gi"}
    body["deployment_config"]["gpu_count"] = 0
    return body


@asynccontextmanager
async def client_for(settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer jm_unknown"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
)
async def test_without_a_valid_key_every_endpoint_is_401(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for method, path in (
        ("GET", f"{MODELS}/status"),
        ("GET", f"{MODELS}/all"),
        ("GET", MODELS),
        ("GET", f"{MODELS}/1"),
        ("DELETE", f"{MODELS}/1"),
    ):
        response = await http.request(method, path, headers=headers)
        assert response.status_code == 401, path
        assert response.json() == {"error": "missing or invalid API key"}
    response = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)
    assert response.status_code == 401


async def test_a_revoked_key_is_401(
    http: httpx.AsyncClient, mongo_db: AsyncDatabase[Document]
) -> None:
    keys = ApiKeys(mongo_db)
    new = await keys.create(organization_id=3, name="ci", now=datetime.now(UTC))
    headers = {"Authorization": f"Bearer {new.key}"}
    assert (await http.get(MODELS, headers=headers)).status_code == 200

    await keys.revoke(new.prefix, now=datetime.now(UTC))

    assert (await http.get(MODELS, headers=headers)).status_code == 401


async def test_invalid_fields_are_400_never_422(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = await key_for(1)
    body = copy.deepcopy(SEED_CREATE_REQUEST)
    body["requirements"]["cpu"] = "lots"

    response = await http.post(MODELS, json=body, headers=headers)

    assert response.status_code == 400
    assert response.json() == {
        "error": "requirements.cpu: 'lots' is not a Kubernetes quantity (e.g. 2000m, 16Gi)"
    }


async def test_malformed_json_and_unknown_fields_are_400(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = {**await key_for(1), "Content-Type": "application/json"}
    broken = await http.post(MODELS, content=b'{"name": ', headers=headers)
    extra = await http.post(MODELS, json={**SEED_CREATE_REQUEST, "gpu": 1}, headers=headers)
    listed = await http.post(MODELS, json=[1, 2], headers=headers)

    assert (broken.status_code, broken.json()) == (400, {"error": "request body is not valid JSON"})
    assert (extra.status_code, extra.json()) == (400, {"error": "gpu: unknown field"})
    assert listed.status_code == 400
    assert listed.json()["error"].startswith("request body: ")


async def test_wrong_served_model_name_gives_the_seed_text(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    body = copy.deepcopy(SEED_CREATE_REQUEST)
    args = body["deployment_config"]["args"]
    args[1] = args[1].replace(
        "--served-model-name qwen3-coder-30b", "--served-model-name wrong-name"
    )

    response = await http.post(MODELS, json=body, headers=await key_for(1))

    assert response.status_code == 400
    assert response.json() == {"error": SEED_MISMATCH}


async def test_missing_served_model_name_with_autoscaling_is_400(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    body = copy.deepcopy(SEED_CREATE_REQUEST)
    body["deployment_config"]["args"] = ["-c", "vllm serve Qwen/Qwen3 --port 8000"]

    response = await http.post(MODELS, json=body, headers=await key_for(1))

    assert response.status_code == 400
    assert "--served-model-name 'qwen3-coder-30b' is required" in response.json()["error"]


async def test_no_cluster_is_403_with_the_seed_text(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    inventory.status = StatusReply(
        connected=False, in_cluster=False, cluster_status=cluster_status()
    )
    headers = await key_for(1)

    created = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)
    status = await http.get(f"{MODELS}/status", headers=headers)

    for response in (created, status):
        assert response.status_code == 403
        assert response.json() == {
            "error": "models API only available when running in Kubernetes cluster"
        }


@pytest.mark.parametrize(
    "path", [f"{MODELS}/status", f"{MODELS}/all", MODELS], ids=["status", "all", "create"]
)
async def test_a_cluster_not_synced_yet_is_a_503_to_retry_not_a_403(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory, path: str
) -> None:
    inventory.status = StatusReply(connected=False, cluster_status=cluster_status())
    headers = await key_for(1)

    if path == MODELS:
        response = await http.post(path, json=SEED_CREATE_REQUEST, headers=headers)
    else:
        response = await http.get(path, headers=headers)

    assert (response.status_code, response.json()) == (
        503,
        {"error": "cluster inventory unavailable, retry shortly"},
    )
    assert response.headers["Retry-After"] == "2"


async def test_missing_aibrix_is_403_with_the_seed_text(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    inventory.status = StatusReply(connected=True, cluster_status=cluster_status(aibrix_ok=False))

    response = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=await key_for(1))

    assert response.status_code == 403
    assert response.json() == {"error": "aibrix CRD not found - required for model deployment"}


async def test_missing_gpu_operator_blocks_only_gpu_models(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    headers = await key_for(1)
    inventory.status = StatusReply(
        connected=True, cluster_status=cluster_status(gpu_operator_ok=False)
    )

    gpu = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)
    cpu = await http.post(MODELS, json=cpu_only(), headers=headers)

    assert gpu.status_code == 403
    assert gpu.json() == {"error": "gpu operator CRD not found - required for model deployment"}
    assert cpu.status_code == 201


async def test_no_node_fits_is_400_with_the_seed_text(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    inventory.status = synced_status(placement=gpu_placement(allocatable=2, allocated=1))
    body = copy.deepcopy(SEED_CREATE_REQUEST)
    body["requirements"]["gpu"] = {"min_vram": "48Gi", "min_gpus": 2, "max_gpus": 2}
    body["deployment_config"]["gpu_count"] = 2

    response = await http.post(MODELS, json=body, headers=await key_for(1))

    assert response.status_code == 400
    assert response.json() == {
        "error": "no GPU node can satisfy the requirements: min 2 GPUs with 48Gi VRAM"
    }


async def test_a_cpu_model_needs_no_gpu_node(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    inventory.status = synced_status(placement=[])
    gpu = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=await key_for(1))
    assert gpu.status_code == 400
    assert (await http.post(MODELS, json=cpu_only(), headers=await key_for(1))).status_code == 201


@pytest.mark.parametrize(
    "path", [f"{MODELS}/status", f"{MODELS}/all", MODELS], ids=["status", "all", "create"]
)
async def test_a_silent_inventory_is_503_within_the_timeout(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory, path: str
) -> None:
    inventory.status = inventory.models = None
    headers = await key_for(1)
    started = time.monotonic()

    if path == MODELS:
        response = await http.post(path, json=SEED_CREATE_REQUEST, headers=headers)
    else:
        response = await http.get(path, headers=headers)

    assert response.status_code == 503
    assert response.json() == {"error": "cluster inventory unavailable, retry shortly"}
    assert response.headers["Retry-After"] == "2"
    assert time.monotonic() - started < 2.0


async def test_an_inventory_error_reply_is_503_with_the_design_text(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory
) -> None:
    inventory.status = QueryError(error="projections not synced yet")
    response = await http.get(f"{MODELS}/status", headers=await key_for(1))
    assert (response.status_code, response.json()) == (
        503,
        {"error": "cluster inventory unavailable, retry shortly"},
    )


async def test_oversized_body_is_413_and_wrong_type_is_415(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = await key_for(1)
    big = copy.deepcopy(SEED_CREATE_REQUEST)
    big["description"] = "x" * (300 * 1024)

    too_big = await http.post(MODELS, json=big, headers=headers)
    form = await http.post(MODELS, data={"name": "x"}, headers=headers)

    assert too_big.status_code == 413
    assert too_big.json() == {"error": "request body larger than 262144 bytes"}
    assert form.status_code == 415
    assert form.json() == {"error": "Content-Type must be application/json"}


async def test_a_chunked_oversized_body_is_413(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 8192

    headers = {**await key_for(1), "Content-Type": "application/json"}
    response = await http.post(MODELS, content=chunks(), headers=headers)

    assert response.status_code == 413


async def test_creates_beyond_the_rate_are_429_with_retry_after(
    api_settings: ApiSettings, jetstream: object, inventory: FakeInventory, key_for: KeyFactory
) -> None:
    settings = api_settings.model_copy(update={"api_create_rate": 0.5, "api_create_burst": 1})
    headers = await key_for(1)
    async with client_for(settings) as http:
        first = await http.post(MODELS, json=cpu_only(), headers=headers)
        second = await http.post(MODELS, json=cpu_only(), headers=headers)

    assert first.status_code == 201
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "2"
    assert second.json() == {"error": "too many requests: retry in 2s"}


@pytest.mark.parametrize("refusal", ["silent inventory", "not synced", "no aibrix", "no node fits"])
async def test_a_taken_name_is_409_before_any_cluster_refusal(
    http: httpx.AsyncClient, key_for: KeyFactory, inventory: FakeInventory, refusal: str
) -> None:
    headers = await key_for(1)
    assert (await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)).status_code == 201
    inventory.status = {
        "silent inventory": None,
        "not synced": StatusReply(connected=False, cluster_status=cluster_status()),
        "no aibrix": synced_status(cluster_status=cluster_status(aibrix_ok=False)),
        "no node fits": synced_status(placement=gpu_placement(allocatable=1, allocated=1)),
    }[refusal]

    again = await http.post(MODELS, json=SEED_CREATE_REQUEST, headers=headers)

    assert (again.status_code, again.json()) == (
        409,
        {"error": "a model named 'qwen3-coder-30b' already exists in namespace 'jan-models'"},
    )
