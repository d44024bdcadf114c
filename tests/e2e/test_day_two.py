"""Day two over HTTP on the whole stack: change a model in place, roll it out, restart it,
scale it, rotate its token; the cluster read back through kubesim's API."""

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from nats import connect as nats_connect
from nats.js.errors import NotFoundError
from pymongo import AsyncMongoClient

from jan_models.stack import LocalStack
from shared.events import parse_event
from shared.labels import RESTARTED_AT_ANNOTATION, model_selector
from shared.names import EVENTS_STREAM
from tests.e2e.conftest import ORG_ID
from tests.e2e.test_walkthrough import MODELS, body, follow_status
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
NAMESPACE = "jan-models"
NEW_IMAGE = "vllm/vllm-openai:v0.10.0"
Sampler = Callable[[], Awaitable[None]]


def cpu_body(name: str, **config: Any) -> dict[str, Any]:
    """The seed's body without GPUs or autoscaling (the session's GPUs stay free), one replica."""
    new = body(name, enable_autoscaling=False, gpu_count=None, **config)
    new["deployment_config"].pop("autoscaling_config")
    new["requirements"] = {"cpu": "100m", "memory": "128Mi"}
    return new


def apis(kubeconfig: Path) -> tuple[Any, Any]:
    """The apps and core clients (their answers read as `Any`: every field is optional)."""
    client = k8s_config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]  # unannotated upstream
    return k8s.AppsV1Api(client), k8s.CoreV1Api(client)


async def deployment(kubeconfig: Path, name: str) -> Any:
    apps, _ = apis(kubeconfig)
    return await asyncio.to_thread(apps.read_namespaced_deployment, name, NAMESPACE)


async def pods(kubeconfig: Path, public_id: str) -> list[Any]:
    _, core = apis(kubeconfig)
    listed = await asyncio.to_thread(
        core.list_namespaced_pod, NAMESPACE, label_selector=model_selector(public_id)
    )
    return list(listed.items)


async def create_running(api: httpx.AsyncClient, payload: dict[str, Any]) -> str:
    created = await api.post(MODELS, json=payload)
    assert created.status_code == 201, created.text
    public_id: str = created.json()["model"]["public_id"]
    assert (await follow_status(api, public_id, until="running", within=90))[-1] == "running"
    return public_id


async def patch(
    api: httpx.AsyncClient, public_id: str, change: dict[str, Any], **headers: str
) -> httpx.Response:
    return await api.patch(
        f"{MODELS}/{public_id}",
        content=orjson.dumps(change),
        headers={"Content-Type": "application/merge-patch+json", **headers},
    )


async def running_at(api: httpx.AsyncClient, public_id: str, generation: int) -> dict[str, Any]:
    """The details once the model runs `generation` (failing fast on `failed`)."""
    seen: list[str] = []

    async def reached() -> bool:
        model = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
        seen.append(model["status"])
        assert model["status"] != "failed", model
        return bool(model["status"] == "running" and model["generation"] == generation)

    await eventually(reached, within=90)
    details: dict[str, Any] = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
    return details


@contextlib.asynccontextmanager
async def sampling(sample: Sampler) -> AsyncIterator[None]:
    """Run `sample` over and over while the block runs (a rollout watched from outside)."""
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            await sample()
            await asyncio.sleep(0.02)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        stop.set()
        await task


@pytest.mark.parametrize(
    ("strategy", "rollout"),
    [
        ("recreate", {"strategy": "Recreate"}),
        ("rolling", {"strategy": "RollingUpdate", "max_surge": 1, "max_unavailable": 0}),
    ],
)
async def test_an_image_patch_rolls_out_in_place_under_each_strategy(
    api: httpx.AsyncClient, kubeconfig: Path, strategy: str, rollout: dict[str, Any]
) -> None:
    name = f"day2-image-{strategy}"
    public_id = await create_running(api, cpu_body(name, rollout=rollout, replicas=2))
    before = await deployment(kubeconfig, name)
    _, core = apis(kubeconfig)
    secret = await asyncio.to_thread(core.read_namespaced_secret, f"{name}-hf-token", NAMESPACE)
    claim = await asyncio.to_thread(
        core.read_namespaced_persistent_volume_claim, f"{name}-cache", NAMESPACE
    )
    hashes_seen: list[set[str]] = []
    ready_seen: list[int] = []

    async def sample() -> None:
        live = await pods(kubeconfig, public_id)
        hashes_seen.append({p.metadata.labels["pod-template-hash"] for p in live})
        ready_seen.append((await deployment(kubeconfig, name)).status.ready_replicas or 0)

    async with sampling(sample):
        response = await patch(api, public_id, {"deployment_config": {"image": NEW_IMAGE}})
        assert response.status_code == 200, response.text
        accepted = response.json()["model"]
        assert (accepted["status"], accepted["generation"]) == ("updating", 2)
        assert response.headers["etag"] == '"2"'
        details = await running_at(api, public_id, 2)

        async def settled() -> bool:
            status = (await deployment(kubeconfig, name)).status
            return bool(status.updated_replicas == status.ready_replicas == status.replicas == 2)

        await eventually(settled, within=30)

    after = await deployment(kubeconfig, name)
    assert details["public_id"] == public_id
    assert after.metadata.uid == before.metadata.uid
    assert after.spec.template.spec.containers[0].image == NEW_IMAGE
    same_secret = await asyncio.to_thread(
        core.read_namespaced_secret, f"{name}-hf-token", NAMESPACE
    )
    same_claim = await asyncio.to_thread(
        core.read_namespaced_persistent_volume_claim, f"{name}-cache", NAMESPACE
    )
    assert same_secret.metadata.uid == secret.metadata.uid
    assert same_claim.metadata.uid == claim.metadata.uid
    if strategy == "recreate":
        assert all(len(hashes) <= 1 for hashes in hashes_seen), hashes_seen
    else:
        assert min(ready_seen) >= 1, ready_seen
        assert any(len(hashes) == 2 for hashes in hashes_seen)  # old and new side by side
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204


async def test_a_bad_image_under_rolling_update_fails_while_the_old_pods_keep_serving(
    api: httpx.AsyncClient, kubeconfig: Path
) -> None:
    name = "day2-bad-image"
    rollout = {"strategy": "RollingUpdate", "max_surge": 1, "max_unavailable": 0}
    public_id = await create_running(api, cpu_body(name, rollout=rollout))

    response = await patch(
        api, public_id, {"deployment_config": {"image": "example.invalid/does-not-exist:2"}}
    )
    assert response.status_code == 200, response.text

    seen = await follow_status(api, public_id, until="failed", within=90)
    details = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
    assert seen[-1] == "failed"
    assert details["generation"] == 2
    assert "ImagePull" in details["status_reason"] or "ErrImage" in details["status_reason"]
    assert (await deployment(kubeconfig, name)).status.ready_replicas == 1
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204


async def test_token_rotation_changes_the_secret_and_the_token_is_nowhere_else(
    api: httpx.AsyncClient, kubeconfig: Path, stack: LocalStack
) -> None:
    name = "day2-token"
    public_id = await create_running(api, cpu_body(name))
    rotated = "hf_rotated_" + "x7" * 12
    _, core = apis(kubeconfig)

    response = await patch(api, public_id, {"deployment_config": {"hugging_face_token": rotated}})

    assert response.status_code == 200, response.text
    assert rotated not in response.text
    assert response.json()["model"]["generation"] == 2

    async def secret_rotated() -> bool:
        secret = await asyncio.to_thread(core.read_namespaced_secret, f"{name}-hf-token", NAMESPACE)
        return bool(base64.b64decode(secret.data["token"]).decode() == rotated)

    await eventually(secret_rotated, within=30)
    details = await running_at(api, public_id, 2)
    assert rotated not in orjson.dumps(details).decode()
    manifest = (await deployment(kubeconfig, name)).to_dict()
    assert rotated not in str(manifest)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_url)
    try:
        async for collection in await client["jan_models"].list_collections():
            async for document in client["jan_models"][collection["name"]].find({}):
                assert rotated not in str(document), collection["name"]
    finally:
        await client.close()
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204


async def test_refusals_name_if_match_in_place_and_while_deleting(
    api: httpx.AsyncClient,
) -> None:
    created = await api.post(MODELS, json=cpu_body("day2-refusals"))
    assert created.status_code == 201, created.text
    public_id = created.json()["model"]["public_id"]

    cases: list[tuple[dict[str, Any], dict[str, str], int, str]] = [
        ({"name": "other"}, {}, 400, "name cannot be changed"),
        ({"display_name": "x"}, {"If-Match": '"3"'}, 412, "model changed: its generation is now 1"),
        ({"deployment_config": {"storage_class": "fast"}}, {}, 400, "storage_class cannot"),
        ({"deployment_config": {"pvc_size": "1Gi"}}, {}, 400, "pvc_size cannot shrink"),
        ({"deployment_config": {"args": ["--served-model-name", "x"]}}, {}, 400, "must match"),
    ]
    for change, headers, status, text in cases:
        response = await patch(api, public_id, change, **headers)
        assert response.status_code == status, (change, response.text)
        assert text in response.json()["error"]
    unchanged = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
    assert unchanged["generation"] == 1

    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204
    for response in (
        await patch(api, public_id, {"display_name": "late"}),
        await api.post(f"{MODELS}/{public_id}/restart"),
    ):
        if response.status_code != 404:  # it may be gone already
            assert response.status_code == 409, response.text
            assert response.json() == {"error": "model is being deleted"}


async def test_a_metadata_only_patch_touches_no_object_and_keeps_the_generation(
    api: httpx.AsyncClient, kubeconfig: Path, stack: LocalStack
) -> None:
    name = "day2-metadata"
    public_id = await create_running(api, cpu_body(name))
    apps, core = apis(kubeconfig)

    async def versions() -> dict[str, str]:
        listed = await asyncio.gather(
            asyncio.to_thread(apps.list_namespaced_deployment, NAMESPACE),
            asyncio.to_thread(core.list_namespaced_service, NAMESPACE),
            asyncio.to_thread(core.list_namespaced_secret, NAMESPACE),
            asyncio.to_thread(core.list_namespaced_persistent_volume_claim, NAMESPACE),
            asyncio.to_thread(
                core.list_namespaced_pod, NAMESPACE, label_selector=model_selector(public_id)
            ),
        )
        return {
            f"{item.kind or type(item).__name__}/{item.metadata.name}": item.metadata.resource_version
            for items in listed
            for item in items.items
            if item.metadata.name.startswith(name)
        }

    before = await versions()
    response = await patch(
        api, public_id, {"display_name": "Renamed", "tags": ["a", "b"], "is_public": True}
    )

    assert response.status_code == 200, response.text
    model = response.json()["model"]
    assert (model["display_name"], model["tags"], model["is_public"]) == (
        "Renamed",
        ["a", "b"],
        True,
    )
    assert (model["generation"], model["status"]) == (1, "running")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_url)
    try:
        stored = await client["jan_models"]["models"].find_one({"public_id": public_id})
    finally:
        await client.close()
    assert stored is not None
    assert not stored.get("outbox")  # no command is pending: nothing will reach the cluster
    assert await versions() == before
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204


async def test_restart_rolls_the_pods_and_a_replicas_change_scales_without_rolling(
    api: httpx.AsyncClient, kubeconfig: Path
) -> None:
    name = "day2-restart"
    public_id = await create_running(api, cpu_body(name))
    first = {p.metadata.name for p in await pods(kubeconfig, public_id)}

    restarted = await api.post(f"{MODELS}/{public_id}/restart")
    assert restarted.status_code == 202, restarted.text
    assert (restarted.json()["model"]["status"], restarted.json()["model"]["generation"]) == (
        "updating",
        2,
    )
    await running_at(api, public_id, 2)
    template = (await deployment(kubeconfig, name)).spec.template.metadata.annotations
    assert RESTARTED_AT_ANNOTATION in template

    async def rolled() -> bool:
        names = {p.metadata.name for p in await pods(kubeconfig, public_id)}
        return bool(names) and not names & first

    await eventually(rolled, within=30)
    second = {p.metadata.name for p in await pods(kubeconfig, public_id)}

    scaled = await patch(api, public_id, {"deployment_config": {"replicas": 2}})
    assert scaled.status_code == 200, scaled.text
    await running_at(api, public_id, 3)

    async def two_ready() -> bool:
        return bool((await deployment(kubeconfig, name)).status.ready_replicas == 2)

    await eventually(two_ready, within=30)
    now = {p.metadata.name for p in await pods(kubeconfig, public_id)}
    assert second <= now  # scaled, not rolled
    assert len(now) == 2
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204


async def test_restart_retries_a_failed_model(api: httpx.AsyncClient, stack: LocalStack) -> None:
    """A model whose Deployment the cluster refused (a 422 kubesim answers by rule) runs
    once the cluster takes it again and the user restarts it."""
    name = "day2-retry"
    rule = {"code": 422, "verb": "patch", "resource": "deployments", "name": name}
    async with httpx.AsyncClient(base_url=stack.kubesim_url) as kubesim:
        added = await kubesim.post("/_kubesim/fault-rules", json=rule)
        assert added.status_code == 201, added.text
        created = await api.post(MODELS, json=cpu_body(name))
        assert created.status_code == 201, created.text
        public_id = created.json()["model"]["public_id"]
        assert (await follow_status(api, public_id, until="failed", within=60))[-1] == "failed"
        removed = await kubesim.delete(f"/_kubesim/fault-rules/{added.json()['id']}")
        assert removed.status_code == 200, removed.text

    retried = await api.post(f"{MODELS}/{public_id}/restart")

    assert retried.status_code == 202, retried.text
    assert retried.json()["model"]["status"] == "updating"
    await running_at(api, public_id, 2)
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204


async def test_an_autoscalers_choice_arrives_as_scaled_and_a_patch_moves_its_bounds(
    api: httpx.AsyncClient, stack: LocalStack
) -> None:
    name = "day2-autoscaled"
    payload = body(name, gpu_count=None)
    payload["requirements"] = {"cpu": "100m", "memory": "128Mi"}
    public_id = await create_running(api, payload)
    deployments = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}"
    autoscaler = (
        f"/apis/autoscaling.aibrix.ai/v1alpha1/namespaces/{NAMESPACE}/podautoscalers/{name}"
    )
    async with httpx.AsyncClient(base_url=stack.kubesim_url) as kubesim:
        chose = await kubesim.patch(
            f"{deployments}/scale",
            params={"fieldManager": "aibrix-kpa"},
            content=orjson.dumps({"spec": {"replicas": 3}}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert chose.status_code == 200, chose.text

        nats = await nats_connect(stack.nats_url)
        try:
            js = nats.jetstream()
            subject = f"model.events.{ORG_ID}.{name}.scaled"

            async def scaled() -> bool:
                try:
                    message = await js.get_last_msg(EVENTS_STREAM, subject)
                except NotFoundError:
                    return False
                return bool(parse_event(message.data or b"").data.replicas == 3)  # type: ignore[union-attr]

            await eventually(scaled, within=30)
        finally:
            await nats.close()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_url)
        try:

            async def recorded() -> bool:
                stored = await client["jan_models"]["models"].find_one({"public_id": public_id})
                return stored is not None and stored.get("replicas") == 3

            await eventually(recorded, within=30)
        finally:
            await client.close()

        bounds = {
            "deployment_config": {"autoscaling_config": {"min_replicas": 2, "max_replicas": 5}}
        }
        response = await patch(api, public_id, bounds)
        assert response.status_code == 200, response.text
        await running_at(api, public_id, 2)
        spec = (await kubesim.get(autoscaler)).json()["spec"]
        assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 5)
        assert (await kubesim.get(deployments)).json()["spec"]["replicas"] == 3  # still its choice
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204
