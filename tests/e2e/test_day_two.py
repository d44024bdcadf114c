"""Day two over HTTP on the whole stack: change a model in place, roll it out, restart it,
scale it, rotate its token; the cluster read back through kubesim's API."""

import asyncio
import base64
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from nats import connect as nats_connect
from nats.aio.msg import Msg
from pymongo import AsyncMongoClient

from jan_models.stack import LocalStack, service_token
from shared.labels import RESTARTED_AT_ANNOTATION, model_selector
from shared.messaging import server_urls
from shared.names import CREATE_SUBJECT
from tests.e2e.test_walkthrough import MODELS, body, follow_status
from tests.waiting import eventually, throughout

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
NAMESPACE = "jan-models"
NEW_IMAGE = "vllm/vllm-openai:v0.10.0"
Sampler = Callable[[], Awaitable[None]]
WRITES = frozenset({"create", "update", "patch", "delete"})
PULL_FAILED = (
    'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull '
    'and unpack image "{image}": failed to resolve reference "{image}": not found'
)
"""What kubesim's kubelet says when an image cannot be pulled (a Warning Event)."""


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
    """The details once the model runs `generation` (failing fast on `failed`). Every
    status seen on the way is `updating` (or `running` at the end): a `degraded` while the
    old pods go away, or anything else, never shows between the change and `running`."""
    seen: list[str] = []

    async def reached() -> bool:
        model = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
        seen.append(model["status"])
        assert model["status"] != "failed", model
        return bool(model["status"] == "running" and model["generation"] == generation)

    await eventually(reached, within=90)
    assert set(seen) <= {"updating", "running"}, seen
    details: dict[str, Any] = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
    return details


async def history(api: httpx.AsyncClient, public_id: str) -> list[dict[str, Any]]:
    """Every CloudEvent of the model, oldest first, paged through `/events` over HTTP."""
    events: list[dict[str, Any]] = []
    after: int | None = None
    while True:
        params = {"limit": 100} | ({} if after is None else {"after": after})
        page = await api.get(f"{MODELS}/{public_id}/events", params=params)
        assert page.status_code == 200, page.text
        events += page.json()["events"]
        after = page.json()["next_after"]
        if after is None:
            return events


async def audit_mark(kubesim: httpx.AsyncClient) -> int:
    """The sequence number of the last request kubesim's audit log holds."""
    entries = (await kubesim.get("/_kubesim/audit/log", params={"since": 0})).json()
    return int(entries[-1]["seq"]) if entries else 0


async def deployer_writes(
    kubesim: httpx.AsyncClient, name: str, *, since: int, until: int | None = None
) -> list[str]:
    """`verb resource/name` of each write the deployer sent to one of the model's objects
    (named after the model) after audit entry `since` (up to `until`)."""
    entries = (await kubesim.get("/_kubesim/audit/log", params={"since": since})).json()
    return [
        f"{e['verb']} {e['resource']}/{e['name']}"
        for e in entries
        if e["user"] == service_token("deployer")
        and e["verb"] in WRITES
        and (e["name"] or "").startswith(name)
        and (until is None or e["seq"] <= until)
    ]


@contextlib.asynccontextmanager
async def commands_published(nats_url: str) -> AsyncIterator[list[dict[str, Any]]]:
    """Every `model.create` command published while the block runs, as JSON. A plain
    subscription sees each publish without consuming it (the stream is a work queue)."""
    seen: list[dict[str, Any]] = []
    client = await nats_connect(server_urls(nats_url))

    async def heard(message: Msg) -> None:
        seen.append(orjson.loads(message.data))

    try:
        await client.subscribe(CREATE_SUBJECT, cb=heard)
        await client.flush()
        yield seen
    finally:
        await client.close()


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
    trace: list[Any] = []

    async def both_ready() -> bool:
        return bool((await deployment(kubeconfig, name)).status.ready_replicas == 2)

    await eventually(both_ready, within=30)

    async def sample() -> None:
        live = await pods(kubeconfig, public_id)
        hashes_seen.append({p.metadata.labels["pod-template-hash"] for p in live})
        live_deployment = await deployment(kubeconfig, name)
        ready_seen.append(live_deployment.status.ready_replicas or 0)
        trace.append(
            (
                live_deployment.metadata.generation,
                live_deployment.spec.replicas,
                str(live_deployment.spec.strategy.rolling_update),
                live_deployment.status.ready_replicas,
                sorted(
                    (p.metadata.name, p.status.phase, bool(p.metadata.deletion_timestamp))
                    for p in live
                ),
            )
        )

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
        assert min(ready_seen) >= 2, [t for t in trace if t[3] != 2][
            :6
        ]  # max_unavailable 0: never below replicas
        assert any(len(hashes) == 2 for hashes in hashes_seen)  # old and new side by side
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204


@pytest.mark.parametrize(
    ("strategy", "rollout"),
    [
        ("recreate", {"strategy": "Recreate"}),
        ("rolling", {"strategy": "RollingUpdate", "max_surge": 1, "max_unavailable": 0}),
    ],
)
async def test_a_bad_image_patch_fails_with_the_pull_error_and_rolling_update_keeps_serving(
    api: httpx.AsyncClient, kubeconfig: Path, stack: LocalStack, strategy: str, rollout: Any
) -> None:
    """The new generation cannot run: the model is `failed` at that generation, its reason
    the pull error word for word as the cluster's Warning Event says it. Under
    RollingUpdate the old pod keeps serving and the details say so; under Recreate it is
    gone."""
    name = f"day2-bad-image-{strategy}"
    image = f"example.invalid/does-not-exist:{strategy}"
    pulled = PULL_FAILED.format(image=image)
    public_id = await create_running(api, cpu_body(name, rollout=rollout))

    response = await patch(api, public_id, {"deployment_config": {"image": image}})
    assert response.status_code == 200, response.text

    async def explained() -> bool:
        model = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
        return model["status"] == "failed" and pulled in (model["status_reason"] or "")

    await eventually(explained, within=90)
    details = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
    reason, _, message = details["status_reason"].partition(": ")
    assert (reason, message) in {("ErrImagePull", pulled), ("ImagePullBackOff", pulled)}
    assert details["generation"] == 2
    failed = [e for e in await history(api, public_id) if e["type"] == "ai.jan.model.failed"]
    assert failed[-1]["data"]["generation"] == 2
    async with httpx.AsyncClient(base_url=stack.kubesim_url) as kubesim:
        listed = await kubesim.get(f"/api/v1/namespaces/{NAMESPACE}/events")
    said = {e["message"] for e in listed.json()["items"] if e["type"] == "Warning"}
    assert pulled in said  # kubesim's own words, not a paraphrase
    conditions = {c["type"]: c for c in details["conditions"]}
    if strategy == "rolling":
        assert details["ready_replicas"] > 0, details
        assert conditions["Available"]["status"] == "True", conditions
        assert (await deployment(kubeconfig, name)).status.ready_replicas == 1
    else:
        assert details["ready_replicas"] == 0, details
        assert conditions["Available"]["status"] == "False", conditions
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204


KUBESIM_LISTS = (
    f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
    f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets",
    f"/api/v1/namespaces/{NAMESPACE}/pods",
    f"/api/v1/namespaces/{NAMESPACE}/events",
    f"/api/v1/namespaces/{NAMESPACE}/services",
    f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims",
    f"/api/v1/namespaces/{NAMESPACE}/configmaps",
)
"""Every kind kubesim holds for a model besides its Secret, read through its API."""


async def test_token_rotation_changes_the_secret_and_the_token_is_nowhere_else(
    api: httpx.AsyncClient, kubeconfig: Path, stack: LocalStack
) -> None:
    """Rotating the token rewrites the Secret; neither the old token nor the new one is
    found in any service's log, any other cluster object (Deployment, pods, Events), the
    model's history, its details or the database."""
    name = "day2-token"
    original = "hf_original_" + secrets.token_hex(12)
    rotated = "hf_rotated_" + secrets.token_hex(12)
    public_id = await create_running(api, cpu_body(name, hugging_face_token=original))
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
    details_text = (await api.get(f"{MODELS}/{public_id}")).text
    events = orjson.dumps(await history(api, public_id)).decode()
    assert "ai.jan.model.updated" in events
    async with httpx.AsyncClient(base_url=stack.kubesim_url) as kubesim:
        cluster = {path: (await kubesim.get(path)).text for path in KUBESIM_LISTS}
    assert name in cluster[f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"]
    logs = {
        path.name: path.read_text(errors="replace")
        for path in (stack.config.data_dir / "logs").iterdir()
        if path.is_file()
    }
    assert {"api.log", "deployer.log", "inventory.log", "kubesim.log"} <= set(logs)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_url)
    try:
        stored = {
            collection["name"]: str(
                await client["jan_models"][collection["name"]].find({}).to_list()
            )
            async for collection in await client["jan_models"].list_collections()
        }
    finally:
        await client.close()
    for token in (original, rotated):
        assert token not in details_text
        assert token not in orjson.dumps(details).decode()
        assert token not in events
        assert [path for path, text in cluster.items() if token in text] == []
        assert [log for log, text in logs.items() if token in text] == []
        assert [collection for collection, text in stored.items() if token in text] == []
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204


async def test_refusals_name_if_match_in_place_and_while_deleting(
    api: httpx.AsyncClient, stack: LocalStack
) -> None:
    """Each refusal in its own words, nothing changed. While the model is `deleting` (kept
    there by the cluster refusing its claim's delete), a PATCH and a restart are a 409
    and change nothing; once the cluster takes the delete, it finishes."""
    name = "day2-refusals"
    public_id = await create_running(api, cpu_body(name))

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

    refused = {"code": 403, "verb": "delete", "resource": "persistentvolumeclaims",
               "namespace": NAMESPACE, "name": f"{name}-cache", "message": "claim held"}  # fmt: skip
    async with httpx.AsyncClient(base_url=stack.kubesim_url) as kubesim:
        rule = await kubesim.post("/_kubesim/fault-rules", json=refused)
        assert rule.status_code == 201, rule.text
        try:
            assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204

            async def stuck() -> bool:
                model = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
                reason = model.get("status_reason") or ""
                return model["status"] == "deleting" and "claim held" in reason

            await eventually(stuck, within=60)  # the deployer tried and was refused
            before = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
            late_patch = await patch(api, public_id, {"display_name": "late"})
            late_restart = await api.post(f"{MODELS}/{public_id}/restart")
            for response in (late_patch, late_restart):
                assert response.status_code == 409, response.text
                assert response.json() == {"error": "model is being deleted"}
            after = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
            assert after == before
            assert after["status"] == "deleting"
            assert after["display_name"] != "late"
            types = [e["type"] for e in await history(api, public_id)]
            assert "ai.jan.model.updated" not in types
        finally:
            lifted = await kubesim.delete(f"/_kubesim/fault-rules/{rule.json()['id']}")
            assert lifted.status_code == 200, lifted.text

    async def gone() -> bool:
        return (await api.get(f"{MODELS}/{public_id}")).status_code == 404

    await eventually(gone, within=60)


async def test_a_metadata_only_patch_touches_no_object_and_keeps_the_generation(
    api: httpx.AsyncClient, kubeconfig: Path, stack: LocalStack
) -> None:
    """After a metadata-only PATCH, for longer than the outbox's grace, no command for the
    model is published, the deployer writes none of its objects, every object keeps its
    resourceVersion and the generation stays, while the details show the new metadata.
    A restart afterwards is the later marker: its command is the model's only one and the
    deployer's writes are all after it, so the pipeline was live and had moved past."""
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
            f"{type(item).__name__}/{item.metadata.name}": item.metadata.resource_version
            for items in listed
            for item in items.items
            if item.metadata.name.startswith(name)
        }

    before = await versions()
    assert {kind.split("/")[0] for kind in before} == {
        "V1Deployment", "V1Service", "V1Secret", "V1PersistentVolumeClaim", "V1Pod"
    }  # fmt: skip
    async with (
        httpx.AsyncClient(base_url=stack.kubesim_url) as kubesim,
        commands_published(stack.nats_url) as commands,
    ):
        mark = await audit_mark(kubesim)
        response = await patch(
            api,
            public_id,
            {"display_name": "Renamed", "description": "new words", "tags": ["a", "b"],
             "is_public": True},
        )  # fmt: skip

        assert response.status_code == 200, response.text
        model = response.json()["model"]
        assert (model["generation"], model["status"]) == (1, "running")

        async def untouched() -> None:
            assert [c for c in commands if c["public_id"] == public_id] == []
            assert await deployer_writes(kubesim, name, since=mark) == []
            assert await versions() == before
            details = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
            assert (details["generation"], details["status"]) == (1, "running")
            assert (
                details["display_name"],
                details["description"],
                details["tags"],
                details["is_public"],
            ) == ("Renamed", "new words", ["a", "b"], True)

        await throughout(untouched, seconds=4)  # the outbox's grace is 2 s

        marker = await audit_mark(kubesim)
        restarted = await api.post(f"{MODELS}/{public_id}/restart")
        assert restarted.status_code == 202, restarted.text
        await running_at(api, public_id, 2)

        async def marker_heard() -> bool:
            return any(c["public_id"] == public_id for c in commands)

        await eventually(marker_heard, within=10)
        ours = [(c["generation"], c["cause"]) for c in commands if c["public_id"] == public_id]
        assert ours == [(2, "update")]
        assert await deployer_writes(kubesim, name, since=mark, until=marker) == []
        assert await deployer_writes(kubesim, name, since=marker) != []  # the audit sees them
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
    """The autoscaler (its field manager on the scale subresource) picks 3 replicas: the
    model's history over HTTP has a `scaled` event saying 3 and its details show
    `replicas` 3; a PATCH of its bounds reaches the autoscaler and leaves its choice."""
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

        async def scaled() -> bool:
            return any(
                e["type"] == "ai.jan.model.scaled" and e["data"]["replicas"] == 3
                for e in await history(api, public_id)
            )

        await eventually(scaled, within=30)

        async def shown() -> bool:
            return bool((await api.get(f"{MODELS}/{public_id}")).json()["model"]["replicas"] == 3)

        await eventually(shown, within=30)

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
