"""Admission on the real stack: racing creates never double-book a GPU, every
admitted model runs, reservations come back when models go, quotas hold under races.

One stack for the module (kubesim's default cluster: 11 GPUs on three GPU nodes); each
test uses organizations of its own and deletes what it created, so every test starts
from the whole cluster free.
"""

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jan_models.stack import LocalStack
from services.api.adapters.quotas import OrganizationQuotas
from shared import database
from shared.labels import MODEL_NAME
from shared.names import DEFAULT_DATABASE, DEFAULT_NAMESPACE
from tests.faults.conftest import (
    MODELS,
    Cluster,
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
    # A pod that cannot be scheduled fails its model after 3 s instead of 5 min.
    yield from start_stack(
        tmp_path_factory, {"JAN_MODELS_INVENTORY_UNSCHEDULABLE_TIMEOUT_SECONDS": "3"}
    )


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


async def test_two_api_replicas_racing_admit_exactly_the_free_gpus_between_them(
    stack: LocalStack,
) -> None:
    second, second_url = stack.api_replica(2)
    await asyncio.to_thread(lambda: second.start().wait_ready(timeout=90))
    try:
        key = await new_key(stack, 8107)
        async with (
            client_for(stack, key) as first_api,
            httpx.AsyncClient(
                base_url=second_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as second_api,
        ):
            free = await free_gpus(first_api)
            apis = [first_api, second_api]
            responses = await asyncio.gather(
                *(
                    apis[i % 2].post(MODELS, json=one_gpu(f"replica-racer-{i}"))
                    for i in range(RACERS)
                )
            )

            created = [r.json()["model"]["public_id"] for r in responses if r.status_code == 201]
            assert len(created) == free
            assert {r.status_code for r in responses[0::2]} | {
                r.status_code for r in responses[1::2]
            } <= {201, 400}

            async def all_running() -> bool:
                current = await statuses(first_api)
                return all(current.get(public_id) == "running" for public_id in created)

            await eventually(all_running, within=180, every=0.5)
            await delete_all_and_wait(first_api, created)
    finally:
        await asyncio.to_thread(second.stop)


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


async def test_a_failed_models_reservation_comes_back(stack: LocalStack) -> None:
    """Its pod never binds (no node has the memory it asks for): the model fails, and the
    GPU reserved for it is offered again although the model is still there."""
    async with client_for(stack, await new_key(stack, 8106)) as api:
        free = await free_gpus(api)
        body = one_gpu("never-binds")
        body["requirements"]["memory"] = "64Ti"
        created = await api.post(MODELS, json=body)
        assert created.status_code == 201, created.text
        public_id = created.json()["model"]["public_id"]
        assert await free_gpus(api) == free - 1

        async def failed() -> bool:
            return (await statuses(api)).get(public_id) == "failed"

        await eventually(failed, within=60, every=0.5)
        assert await free_gpus(api) == free
        await delete_all_and_wait(api, [public_id])


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


async def pods_nodes(cluster: Cluster, name: str) -> list[str]:
    response = await cluster.http.get(
        f"/api/v1/namespaces/{DEFAULT_NAMESPACE}/pods",
        params={"labelSelector": f"{MODEL_NAME}={name}"},
    )
    response.raise_for_status()
    return [pod["spec"].get("nodeName", "") for pod in response.json()["items"]]


async def test_min_vram_without_gpu_count_asks_one_gpu_of_that_memory_and_lands_there(
    stack: LocalStack, cluster: Cluster
) -> None:
    """The 40 GB A100, the 22 GB L4 and the 80 GB H100 all have a free GPU: 41Gi is the H100's."""
    async with client_for(stack, await new_key(stack, 8104)) as api:
        bodies = []
        for index in range(4):
            body = light_body(f"big-{index}")
            body["requirements"] = {"gpu": {"min_vram": "41Gi"}}
            bodies.append(body)
        responses = await asyncio.gather(*(api.post(MODELS, json=b) for b in bodies))
        assert [r.status_code for r in responses] == [201] * 4
        ids = [r.json()["model"]["public_id"] for r in responses]

        async def all_running() -> bool:
            current = await statuses(api)
            return all(current.get(public_id) == "running" for public_id in ids)

        await eventually(all_running, within=120, every=0.5)
        for index in range(4):
            assert await pods_nodes(cluster, f"big-{index}") == ["gpu-h100-1"]
        deployment = await cluster.http.get(
            f"/apis/apps/v1/namespaces/{DEFAULT_NAMESPACE}/deployments/big-0"
        )
        container = deployment.json()["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}
        await delete_all_and_wait(api, ids)


async def gpu_node(api: httpx.AsyncClient, name: str) -> dict[str, Any]:
    nodes = (await cluster_status(api))["cluster_status"]["gpu_nodes"]
    found: dict[str, Any] = next(node for node in nodes if node["node_name"] == name)
    return found


async def make_l4(cluster: Cluster, how: str, *, broken: bool) -> None:
    """Cordon, mark NotReady or taint the L4 node, or undo it."""
    if how == "not_ready":
        ready = {"status": "False" if broken else "True"}
        response = await cluster.control.post("/_kubesim/nodes/gpu-l4-1/ready", json=ready)
    else:
        taints = [{"key": "maintenance", "value": "true", "effect": "NoSchedule"}]
        spec: dict[str, Any] = {"unschedulable": broken or None} if how == "cordoned" else {}
        spec |= {"taints": taints if broken else None} if how == "tainted" else {}
        response = await cluster.http.patch(
            "/api/v1/nodes/gpu-l4-1",
            json={"spec": spec},
            headers={"Content-Type": "application/merge-patch+json"},
        )
    response.raise_for_status()


@pytest.mark.parametrize("how", ["cordoned", "not_ready", "tainted"])
async def test_an_ineligible_node_is_not_offered_and_is_again_once_restored(
    stack: LocalStack, cluster: Cluster, how: str
) -> None:
    l4 = light_body("on-l4", gpu_count=1)
    l4["requirements"] = {"gpu": {"gpu_type": "NVIDIA-L4"}}
    async with client_for(stack, await new_key(stack, 8105)) as api:
        await make_l4(cluster, how, broken=True)

        async def shown_unschedulable() -> bool:
            node = await gpu_node(api, "gpu-l4-1")
            return (node["schedulable"], node["unschedulable_reason"], node["free_gpus"]) == (
                False,
                how,
                0,
            )

        await eventually(shown_unschedulable, within=30)
        refused = await api.post(MODELS, json=l4)
        assert (refused.status_code, refused.json()) == (400, {"error": NO_NODE_FITS})

        await make_l4(cluster, how, broken=False)

        async def offered_again() -> bool:
            free: int = (await gpu_node(api, "gpu-l4-1"))["free_gpus"]
            return free == 1

        await eventually(offered_again, within=30)
        admitted = await api.post(MODELS, json=l4)
        assert admitted.status_code == 201, admitted.text
        await delete_all_and_wait(api, [admitted.json()["model"]["public_id"]])


async def test_an_api_killed_amid_racing_admissions_leaks_no_reservation(
    stack: LocalStack,
) -> None:
    """Killed while creates are in flight: what it stored runs, what it did not store holds
    nothing, and once those models are gone the whole cluster is free again. (Last in the
    module: it restarts the api.)"""
    key = await new_key(stack, 8108)
    async with client_for(stack, key) as api:
        free = await free_gpus(api)

        async def create(index: int) -> None:
            with contextlib.suppress(httpx.HTTPError):
                await api.post(MODELS, json=one_gpu(f"crash-{index}"))

        racing = [asyncio.create_task(create(i)) for i in range(RACERS)]
        await asyncio.sleep(0.2)
        await asyncio.to_thread(stack.restart_service, "api", kill=True)
        await asyncio.gather(*racing)

        stored = list(await statuses(api))
        assert len(stored) <= free

        async def settled() -> bool:
            current = await statuses(api)
            return all(current[public_id] == "running" for public_id in stored)

        await eventually(settled, within=180, every=0.5)
        assert await free_gpus(api) == free - len(stored)
        after = await api.post(MODELS, json=one_gpu("after-the-crash"))
        assert after.status_code == (201 if len(stored) < free else 400), after.text
        if after.status_code == 201:
            stored.append(after.json()["model"]["public_id"])
        await delete_all_and_wait(api, stored)

        async def all_free_again() -> bool:
            return await free_gpus(api) == free

        await eventually(all_free_again, within=60, every=0.5)
