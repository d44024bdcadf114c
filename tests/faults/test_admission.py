"""Admission on the real stack (DESIGN 8): racing creates never double-book a GPU, every
admitted model runs, reservations come back when models go, quotas hold under races.

One stack for the module (kubesim's default cluster: 11 GPUs on three GPU nodes); each
test uses organizations of its own and deletes what it created, so every test starts
from the whole cluster free.
"""

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jan_models.stack import LocalStack
from services.api.adapters.quotas import OrganizationQuotas
from shared import database
from shared.names import DEFAULT_DATABASE
from tests.faults.conftest import (
    MODELS,
    client_for,
    eventually,
    light_body,
    new_key,
    start_stack,
    statuses,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

RACERS = 20
NO_NODE_FITS = "no GPU node can satisfy the requirements: min 1 GPUs with 0Gi VRAM"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from start_stack(tmp_path_factory)


def one_gpu(name: str, **config: Any) -> dict[str, Any]:
    body = light_body(name, gpu_count=1, **config)
    body["requirements"] = {"gpu": {"min_gpus": 1, "max_gpus": 1}}
    return body


async def cluster_status(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get(f"{MODELS}/status")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def free_gpus(api: httpx.AsyncClient) -> int:
    nodes = (await cluster_status(api))["cluster_status"]["gpu_nodes"]
    return sum(node["free_gpus"] for node in nodes)


async def race(api: httpx.AsyncClient, prefix: str, count: int) -> list[httpx.Response]:
    return list(
        await asyncio.gather(
            *(api.post(MODELS, json=one_gpu(f"{prefix}-{i}")) for i in range(count))
        )
    )


async def delete_all_and_wait(api: httpx.AsyncClient, public_ids: list[str]) -> None:
    for public_id in public_ids:
        assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204

    async def all_gone() -> bool:
        codes = [(await api.get(f"{MODELS}/{public_id}")).status_code for public_id in public_ids]
        return set(codes) <= {404}

    await eventually(all_gone, within=120, every=0.5)


async def test_racing_one_gpu_creates_admit_exactly_the_free_gpus_and_every_one_runs(
    stack: LocalStack,
) -> None:
    async with client_for(stack, await new_key(stack, 8101)) as api:
        free = await free_gpus(api)
        assert 0 < free < RACERS

        responses = await race(api, "racer", RACERS)

        created = [r.json()["model"]["public_id"] for r in responses if r.status_code == 201]
        refused = [r for r in responses if r.status_code != 201]
        assert len(created) == free
        assert {(r.status_code, r.json()["error"]) for r in refused} == {(400, NO_NODE_FITS)}
        assert await free_gpus(api) == 0  # held by reservations until the pods bind

        async def all_running() -> bool:
            current = await statuses(api)
            return all(current.get(public_id) == "running" for public_id in created)

        await eventually(all_running, within=180, every=0.5)
        assert await free_gpus(api) == 0

        await delete_all_and_wait(api, created)

        async def all_free_again() -> bool:
            return await free_gpus(api) == free

        await eventually(all_free_again, within=60, every=0.5)
        again = await api.post(MODELS, json=one_gpu("after-the-race"))
        assert again.status_code == 201, again.text
        await delete_all_and_wait(api, [again.json()["model"]["public_id"]])


async def test_a_deleted_models_reservation_comes_back_before_its_pods_ever_bind(
    stack: LocalStack,
) -> None:
    """A reservation taken and the model deleted at once: the next creates get the GPUs."""
    async with client_for(stack, await new_key(stack, 8102)) as api:
        free = await free_gpus(api)
        first = await race(api, "early", free)
        ids = [r.json()["model"]["public_id"] for r in first]
        assert [r.status_code for r in first] == [201] * free
        await delete_all_and_wait(api, ids)

        second = await race(api, "late", free)
        assert [r.status_code for r in second] == [201] * free
        await delete_all_and_wait(api, [r.json()["model"]["public_id"] for r in second])


async def test_racing_creates_never_exceed_the_quota_and_usage_shows_in_status(
    stack: LocalStack,
) -> None:
    org, limit = 8103, 3
    client = database.connect(stack.mongodb_url, app_name="admission-test")
    try:
        await OrganizationQuotas(client[DEFAULT_DATABASE]).set(org, gpus=limit)
    finally:
        await client.close()
    async with client_for(stack, await new_key(stack, org)) as api:
        responses = await race(api, "quota", 8)

        created = [r.json()["model"]["public_id"] for r in responses if r.status_code == 201]
        refused = {(r.status_code, r.json()["error"]) for r in responses if r.status_code != 201}
        assert len(created) == limit
        assert refused == {
            (403, f"GPU quota exceeded for organization {org}: 1 requested, 3 of 3 in use")
        }
        assert (await cluster_status(api))["quota"] == {"gpus": {"limit": limit, "used": limit}}

        await delete_all_and_wait(api, created[:1])
        assert (await cluster_status(api))["quota"] == {"gpus": {"limit": limit, "used": 2}}
        await delete_all_and_wait(api, created[1:])
        assert (await cluster_status(api))["quota"] == {"gpus": {"limit": limit, "used": 0}}
