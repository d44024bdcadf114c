"""Every object a model owns is watched (Secrets as metadata only): one deleted by hand is
drift, and the model's state is told again once it is back; objects no model owns in
the models' namespace are named in the status reply, so admission can refuse their names."""

import asyncio
import base64
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from kubernetes_asyncio.client import ApiClient
from nats.aio.client import Client

from kubesim import KubeSim
from services.inventory.adapters.kinds import REQUIRED_TARGETS
from services.inventory.adapters.kube_watch import KubeWatch, WatchTiming
from services.inventory.runtime import InventoryRuntime
from services.inventory.store import Watched
from shared import labels
from shared.events import ModelDrifted, ModelRunning
from shared.names import DEFAULT_NAMESPACE, STATUS_QUERY_SUBJECT
from shared.queries import STATUS_ANSWER, StatusReply
from tests.inventory.support import ask, deployment
from tests.inventory.test_models_and_recovery import MODEL, PUBLIC_ID, events
from tests.waiting import poll

pytestmark = pytest.mark.integration

NS = DEFAULT_NAMESPACE
TOKEN = "hf_owned_objects_never_seen_by_the_inventory"
CORE = f"/api/v1/namespaces/{NS}"


def owned(api_version: str, kind: str, name: str, **body: Any) -> dict[str, Any]:
    meta = {
        "name": name,
        "labels": labels.model_labels(
            name="qwen3", organization_id=MODEL["organization_id"], public_id=PUBLIC_ID
        ),
        "annotations": labels.model_annotations(model_id=MODEL["model_id"], generation=1),
    }
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}


OBJECTS: dict[str, tuple[str, dict[str, Any]]] = {
    "Service": (
        f"{CORE}/services",
        owned("v1", "Service", "qwen3", spec={"ports": [{"name": "serve", "port": 8000}]}),
    ),
    "Secret": (
        f"{CORE}/secrets",
        owned("v1", "Secret", "qwen3-hf-token", stringData={"token": TOKEN}),
    ),
    "PersistentVolumeClaim": (
        f"{CORE}/persistentvolumeclaims",
        owned(
            "v1",
            "PersistentVolumeClaim",
            "qwen3-cache",
            spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        ),
    ),
}


async def status(nc: Client) -> StatusReply:
    reply = await ask(nc, STATUS_QUERY_SUBJECT, STATUS_ANSWER)
    assert isinstance(reply, StatusReply)
    return reply


@pytest.fixture
async def kube_http(kubesim: KubeSim) -> Any:
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=20) as http:
        namespace = await http.post("/api/v1/namespaces", json={"metadata": {"name": NS}})
        assert namespace.status_code in (201, 409)
        yield http


async def test_an_owned_object_deleted_by_hand_is_drift_and_running_is_told_again_once_back(
    inventory: InventoryRuntime,
    nats_client: Client,
    kube_http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    log = await events(nats_client)
    for collection, body in OBJECTS.values():
        assert (await kube_http.post(collection, json=body)).status_code == 201
    made = await kube_http.post(
        f"/apis/apps/v1/namespaces/{NS}/deployments",
        json=deployment("qwen3", namespace=NS, managed=MODEL),
    )
    assert made.status_code == 201
    await poll(lambda: log.of(ModelRunning), until=bool)
    await poll(
        lambda: _memory_kinds(inventory),
        until=lambda kinds: kinds == {"Service", "Secret", "PersistentVolumeClaim"},
    )

    for number, (kind, (collection, body)) in enumerate(OBJECTS.items(), start=1):
        name = body["metadata"]["name"]
        assert (await kube_http.delete(f"{collection}/{name}")).status_code == 200
        drifts = await poll(lambda: log.of(ModelDrifted), until=_count(number))
        drifted = drifts[-1].data
        assert [(ref.kind, ref.name) for ref in drifted.missing] == [(kind, name)]
        assert drifted.reason == f"{kind}Missing"
        assert drifted.generation == 1
        assert (await kube_http.post(collection, json=body)).status_code == 201
        # back: the model's state is told again (the api then leaves `degraded: repairing`)
        await poll(lambda: log.of(ModelRunning), until=_count(number + 1))

    # the Secret was listed, watched, deleted and made again: its value never came in
    held = repr(inventory.store.objects) + repr(inventory.tracker.memories) + caplog.text
    for collection_name in await inventory.writer.db.list_collection_names():
        held += repr(await inventory.writer.db[collection_name].find({}).to_list(None))
    assert TOKEN not in held
    assert base64.b64encode(TOKEN.encode()).decode() not in held


def _count(n: int) -> Callable[[list[Any]], bool]:
    return lambda found: len(found) == n


async def _memory_kinds(inventory: InventoryRuntime) -> set[str]:
    memory = inventory.tracker.memories.get(PUBLIC_ID)
    return {ref.kind for ref in memory.owned} if memory is not None else set()


async def test_objects_no_model_owns_are_named_in_the_status_reply(
    inventory: InventoryRuntime, nats_client: Client, kube_http: httpx.AsyncClient
) -> None:
    foreign_service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "someone-elses", "labels": {"app": "theirs"}},
        "spec": {"ports": [{"port": 80}]},
    }
    assert (await kube_http.post(f"{CORE}/services", json=foreign_service)).status_code == 201
    theirs = deployment("theirs", namespace=NS)
    theirs["metadata"]["labels"] = {"app": "theirs"}
    made = await kube_http.post(f"/apis/apps/v1/namespaces/{NS}/deployments", json=theirs)
    assert made.status_code == 201
    ours = OBJECTS["Service"][1]
    assert (await kube_http.post(f"{CORE}/services", json=ours)).status_code == 201
    elsewhere = await kube_http.post("/api/v1/namespaces/default/services", json=foreign_service)
    assert elsewhere.status_code == 201

    reply = await poll(lambda: status(nats_client), until=lambda r: len(r.foreign_objects) == 2)
    assert reply.foreign_objects == {"Deployment": ["theirs"], "Service": ["someone-elses"]}

    # labelled as a model's, it is no longer foreign (and the reply's version moves on)
    relabelled = await kube_http.patch(
        f"{CORE}/services/someone-elses",
        json={"metadata": {"labels": {labels.MODEL_ID: "mdl_other0000000"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert relabelled.status_code == 200
    after = await poll(
        lambda: status(nats_client), until=lambda r: "Service" not in r.foreign_objects
    )
    assert after.foreign_objects == {"Deployment": ["theirs"]}
    assert after.version != reply.version


class RawSink:
    """Whatever the watch hands over, as it came off the wire."""

    def __init__(self) -> None:
        self.raw: list[dict[str, Any]] = []

    def listed(self, kind: Watched, items: list[dict[str, Any]]) -> None:
        self.raw.extend(items)

    def event(
        self, kind: Watched, event_type: str, obj: dict[str, Any], *, received: float
    ) -> None:
        self.raw.append(obj)


async def test_secrets_arrive_as_metadata_only_in_lists_and_watches(
    kube_http: httpx.AsyncClient, kube: ApiClient
) -> None:
    collection, body = OBJECTS["Secret"]
    assert (await kube_http.post(collection, json=body)).status_code == 201
    [target] = [t for t in REQUIRED_TARGETS if t.kind is Watched.SECRETS]
    sink = RawSink()
    watch = KubeWatch(client=kube, target=target, sink=sink, timing=WatchTiming(timeout_seconds=5))
    version = await watch.list()
    watching = asyncio.create_task(watch.watch(version))
    second = {**body, "metadata": {**body["metadata"], "name": "qwen3-other"}}
    assert (await kube_http.post(collection, json=second)).status_code == 201
    await poll(lambda: asyncio.sleep(0, len(sink.raw)), until=lambda n: n >= 2)
    watching.cancel()

    names = [raw["metadata"]["name"] for raw in sink.raw]
    assert names[:2] == ["qwen3-hf-token", "qwen3-other"]
    assert {raw["kind"] for raw in sink.raw} == {"PartialObjectMetadata"}
    assert all(set(raw) == {"kind", "apiVersion", "metadata"} for raw in sink.raw)
    assert TOKEN not in repr(sink.raw)
