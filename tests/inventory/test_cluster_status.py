"""Status and capacity answers follow the simulated cluster (integration)."""

import pytest
from kubernetes_asyncio.client import ApiClient, ApiextensionsV1Api, AppsV1Api
from nats.aio.client import Client

from services.inventory.runtime import InventoryRuntime
from shared import crds
from shared.names import CAPACITY_QUERY_SUBJECT, STATUS_QUERY_SUBJECT
from shared.queries import CAPACITY_ANSWER, STATUS_ANSWER, CapacityReply, QueryError, StatusReply
from tests.inventory.support import ask, deployment
from tests.waiting import poll

pytestmark = pytest.mark.integration


async def status(nc: Client) -> StatusReply:
    reply = await ask(nc, STATUS_QUERY_SUBJECT, STATUS_ANSWER)
    assert isinstance(reply, StatusReply)
    return reply


def gpu_node(reply: StatusReply, name: str) -> dict[str, object]:
    return next(n.model_dump() for n in reply.cluster_status.gpu_nodes if n.node_name == name)


async def test_status_reports_the_default_cluster(
    inventory: InventoryRuntime, nats_client: Client
) -> None:
    reply = await status(nats_client)

    assert reply.connected
    cluster = reply.cluster_status
    assert cluster.has_gpus
    assert cluster.total_gpus == 1 + 2 + 8
    assert gpu_node(reply, "gpu-a100-1") == {
        "node_name": "gpu-a100-1",
        "gpu_count": 2,
        "gpu_type": "NVIDIA-A100-SXM4-40GB",
        "total_vram": "80Gi",
        "available_vram": "80Gi",
        "allocated_gpus": 0,
        "reserved_gpus": 0,
        "free_gpus": 2,
        "schedulable": True,
        "unschedulable_reason": None,
    }
    assert gpu_node(reply, "gpu-h100-1")["total_vram"] == "637Gi"  # 8 x 81,559 MiB, rounded down
    assert (cluster.aibrix_ok, cluster.gpu_operator_ok) == (True, True)
    assert (cluster.kuberay_ok, cluster.envoy_gateway_ok) == (True, True)
    assert reply.service_monitor_ok
    assert "standard" in reply.storage_classes
    assert reply.missing == []


async def test_gpu_accounting_follows_pods_coming_and_going(
    inventory: InventoryRuntime, nats_client: Client, kube: ApiClient
) -> None:
    apps = AppsV1Api(kube)
    manifest = deployment("a100-user", gpus=2)
    manifest["spec"]["template"]["spec"]["nodeSelector"] = {
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"
    }
    await apps.create_namespaced_deployment("default", manifest)  # type: ignore[arg-type]  # a dict body is sent as is

    taken = await poll(
        lambda: status(nats_client),
        until=lambda r: gpu_node(r, "gpu-a100-1")["available_vram"] == "0Gi",
    )
    assert gpu_node(taken, "gpu-a100-1")["total_vram"] == "80Gi"
    fits = await ask(
        nats_client,
        CAPACITY_QUERY_SUBJECT,
        CAPACITY_ANSWER,
        b'{"min_gpus": 2, "gpu_type": "NVIDIA-A100-SXM4-40GB"}',
    )
    assert fits == CapacityReply(
        fits=False,
        message="no GPU node can satisfy the requirements: min 2 GPUs with 0Gi VRAM",
    )

    await apps.delete_namespaced_deployment("a100-user", "default")
    await poll(
        lambda: status(nats_client),
        until=lambda r: gpu_node(r, "gpu-a100-1")["available_vram"] == "80Gi",
    )
    node = await inventory_node(inventory, "gpu-a100-1")
    assert (node["allocated_gpus"], node["free_gpus"]) == (0, 2)


async def inventory_node(service: InventoryRuntime, name: str) -> dict[str, object]:
    async def read() -> dict[str, object] | None:
        await service.writer.flush()
        return await service.writer.db["inventory_nodes"].find_one({"_id": name})

    document = await poll(read, until=lambda d: d is not None and d["allocated_gpus"] == 0)
    assert document is not None
    return document


async def test_capacity_answers_fit_or_the_seed_message(
    inventory: InventoryRuntime, nats_client: Client
) -> None:
    fits = await ask(
        nats_client, CAPACITY_QUERY_SUBJECT, CAPACITY_ANSWER, b'{"min_gpus": 2, "min_vram": "48Gi"}'
    )
    assert isinstance(fits, CapacityReply)
    assert fits.fits
    assert fits.node_name in {"gpu-a100-1", "gpu-h100-1"}

    no_fit = await ask(
        nats_client, CAPACITY_QUERY_SUBJECT, CAPACITY_ANSWER, b'{"min_gpus": 9, "min_vram": "48Gi"}'
    )
    assert no_fit == CapacityReply(
        fits=False, message="no GPU node can satisfy the requirements: min 9 GPUs with 48Gi VRAM"
    )

    malformed = await ask(
        nats_client, CAPACITY_QUERY_SUBJECT, CAPACITY_ANSWER, b'{"min_gpus": "x"}'
    )
    assert isinstance(malformed, QueryError)
    assert "min_gpus" in malformed.error


async def test_removing_the_aibrix_crd_flips_aibrix_ok(
    inventory: InventoryRuntime, nats_client: Client, kube: ApiClient
) -> None:
    await ApiextensionsV1Api(kube).delete_custom_resource_definition(crds.AIBRIX.name)

    reply = await poll(lambda: status(nats_client), until=lambda r: not r.cluster_status.aibrix_ok)

    assert crds.AIBRIX.name in reply.missing
    assert reply.cluster_status.gpu_operator_ok
