"""Model workloads, lifecycle events and watch recovery against kubesim (integration)."""

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, AppsV1Api, CoreV1Api
from nats.aio.client import Client
from nats.aio.msg import Msg

from kubesim import KubeSim
from services.inventory.runtime import InventoryRuntime
from shared.events import (
    DeletingData,
    ModelDeleting,
    ModelDrifted,
    ModelEvent,
    ModelFailed,
    ModelRunning,
    parse_event,
)
from shared.messaging import publish_event
from shared.names import EVENTS_WILDCARD, MODELS_QUERY_SUBJECT
from shared.queries import MODELS_ANSWER, ModelsReply
from tests.inventory.support import ask, deployment
from tests.waiting import poll

pytestmark = pytest.mark.integration

PUBLIC_ID = "mdl_abc123def456"
MODEL: dict[str, Any] = {
    "organization_id": 123,
    "public_id": PUBLIC_ID,
    "model_id": 7,
    "generation": 1,
}


async def models(nc: Client) -> ModelsReply:
    reply = await ask(nc, MODELS_QUERY_SUBJECT, MODELS_ANSWER)
    assert isinstance(reply, ModelsReply)
    return reply


class EventLog:
    def __init__(self) -> None:
        self.events: list[ModelEvent] = []

    async def receive(self, msg: Msg) -> None:
        self.events.append(parse_event(msg.data))

    async def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


async def events(nc: Client) -> EventLog:
    log = EventLog()
    await nc.subscribe(EVENTS_WILDCARD, cb=log.receive)
    return log


async def test_hand_made_deployment_shows_up_unmanaged(
    inventory: InventoryRuntime, nats_client: Client, kube: ApiClient
) -> None:
    await AppsV1Api(kube).create_namespaced_deployment("default", deployment("external-model"))  # type: ignore[arg-type]

    reply = await poll(
        lambda: models(nats_client),
        until=lambda r: any(m.name == "external-model" and m.status == "Running" for m in r.models),
    )

    entry = next(m for m in reply.models if m.name == "external-model")
    assert (entry.namespace, entry.is_managed, entry.replicas) == ("default", False, 1)
    assert entry.public_id is None
    assert entry.created_at is not None
    assert reply.total == len(reply.models)


async def test_managed_model_runs_then_drifts_when_its_deployment_vanishes(
    inventory: InventoryRuntime, nats_client: Client, kube: ApiClient
) -> None:
    log = await events(nats_client)
    apps = AppsV1Api(kube)
    await apps.create_namespaced_deployment("default", deployment("qwen3", managed=MODEL))  # type: ignore[arg-type]

    running = await poll(lambda: log.of(ModelRunning), until=bool)
    assert running[0].data.model_dump() == {
        **MODEL,
        "name": "qwen3",
        "namespace": "default",
        "replicas": 1,
        "ready_replicas": 1,
        "updated_replicas": 1,
    }
    reply = await models(nats_client)
    entry = next(m for m in reply.models if m.name == "qwen3")
    assert (entry.is_managed, entry.organization_id, entry.public_id) == (
        True,
        123,
        "mdl_abc123def456",
    )

    await apps.delete_namespaced_deployment("qwen3", "default")
    drifted = await poll(lambda: log.of(ModelDrifted), until=bool)
    assert drifted[0].data.missing[0].name == "qwen3"
    assert len(await log.of(ModelRunning)) == 1


async def test_deleting_model_is_not_drift(
    inventory: InventoryRuntime, nats_client: Client, kube: ApiClient, jetstream: Any
) -> None:
    log = await events(nats_client)
    apps = AppsV1Api(kube)
    await apps.create_namespaced_deployment("default", deployment("qwen3", managed=MODEL))  # type: ignore[arg-type]
    await poll(lambda: log.of(ModelRunning), until=bool)

    data = DeletingData.model_validate({**MODEL, "name": "qwen3", "namespace": "default"})
    await publish_event(jetstream, ModelDeleting.of(data, source="/jan-models/tests"))
    memory = await poll(
        lambda: asyncio.sleep(0, inventory.tracker.memories.get(PUBLIC_ID)),
        until=lambda m: m is not None and m.deleting,
    )
    assert memory is not None
    await apps.delete_namespaced_deployment("qwen3", "default")
    await poll(
        lambda: asyncio.sleep(0, inventory.tracker.memories[PUBLIC_ID]),
        until=lambda m: not m.present,
    )

    assert await log.of(ModelDrifted) == []
    stored = await inventory.writer.db["inventory_models"].find_one({"_id": MODEL["public_id"]})
    assert stored is not None
    assert stored["deleting"] is True


async def test_image_that_cannot_be_pulled_fails_with_the_reason(
    inventory: InventoryRuntime, nats_client: Client, kube: ApiClient
) -> None:
    log = await events(nats_client)
    manifest = deployment("broken", image="registry.example/does-not-exist:1", managed=MODEL)
    await AppsV1Api(kube).create_namespaced_deployment("default", manifest)  # type: ignore[arg-type]

    failed = await poll(lambda: log.of(ModelFailed), until=bool)

    assert failed[0].data.stage == "runtime"
    assert failed[0].data.reason in {"ImagePullBackOff", "ErrImagePull"}
    assert failed[0].data.public_id == MODEL["public_id"]
    reply = await models(nats_client)
    assert next(m for m in reply.models if m.name == "broken").status == "Failed"


async def projection_matches_cluster(service: InventoryRuntime, kube: ApiClient) -> bool:
    """Every projection holds exactly the cluster's objects at the cluster's versions."""
    await service.writer.flush()
    core, apps = CoreV1Api(kube), AppsV1Api(kube)
    nodes = {n.metadata.name: n.metadata.resource_version for n in (await core.list_node()).items}
    pods = {
        f"{p.metadata.namespace}/{p.metadata.name}": p.metadata.resource_version
        for p in (await core.list_pod_for_all_namespaces()).items
    }
    workloads = {
        f"{d.metadata.namespace}/{d.metadata.name}": d.metadata.resource_version
        for d in (
            await apps.list_deployment_for_all_namespaces(label_selector="model.aibrix.ai/name")
        ).items
    }
    db = service.writer.db
    for collection, expected in (
        ("inventory_nodes", nodes),
        ("inventory_pods", pods),
        ("inventory_workloads", workloads),
    ):
        stored = {d["_id"]: d["resource_version"] async for d in db[collection].find({})}
        if stored != expected:
            return False
    return True


async def test_forced_410_and_cut_watches_leave_the_projection_equal_to_the_cluster(
    inventory: InventoryRuntime, nats_client: Client, kube: ApiClient, kubesim: KubeSim
) -> None:
    apps, core = AppsV1Api(kube), CoreV1Api(kube)
    await apps.create_namespaced_deployment("default", deployment("before-cut"))  # type: ignore[arg-type]
    await poll(lambda: projection_matches_cluster(inventory, kube), until=bool)

    for _ in range(5):
        kubesim.faults.expire_next_watch()
    kubesim.faults.cut_watches()
    # While the watches recover, the cluster changes: one created, one deleted, one patched.
    await apps.create_namespaced_deployment("default", deployment("after-cut"))  # type: ignore[arg-type]
    await apps.delete_namespaced_deployment("before-cut", "default")
    await core.patch_node("gpu-l4-1", {"metadata": {"labels": {"team": "inference"}}})

    await poll(lambda: projection_matches_cluster(inventory, kube), until=bool, timeout=20)
    reply = await models(nats_client)
    names = {m.name for m in reply.models}
    assert "after-cut" in names
    assert "before-cut" not in names
