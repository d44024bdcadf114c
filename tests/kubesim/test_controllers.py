"""Simulated scheduler, kubelet and deployment controller, seen through the API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.kubesim.conftest import deployment
from tests.waiting import eventually

pytestmark = pytest.mark.integration


async def _pods(core: Any, name: str) -> list[Any]:
    return list((await core.list_namespaced_pod("default", label_selector=f"app={name}")).items)


async def test_gpu_fit_available_and_counted(api: Any) -> None:
    apps: Any = client.AppsV1Api(api)
    core: Any = client.CoreV1Api(api)
    await apps.create_namespaced_deployment("default", deployment("big", gpus=8))

    async def available() -> bool:
        d = await apps.read_namespaced_deployment_status("big", "default")
        conds = {c.type: c for c in d.status.conditions or []}
        return (
            d.status.available_replicas == 1
            and conds.get("Available") is not None
            and conds["Available"].status == "True"
        )

    await eventually(available)
    (pod,) = await _pods(core, "big")
    assert pod.spec.node_name == "gpu-h100-1"
    assert pod.status.phase == "Running"
    assert pod.metadata.owner_references[0].kind == "ReplicaSet"
    assert pod.metadata.labels["app"] == "big"
    on_node = await core.list_pod_for_all_namespaces(
        field_selector="spec.nodeName=gpu-h100-1,status.phase=Running"
    )
    assert len(on_node.items) == 1
    # the H100s are taken now: another 8-GPU model cannot fit anywhere
    await apps.create_namespaced_deployment("default", deployment("second", gpus=8))

    async def unschedulable() -> bool:
        pods = await _pods(core, "second")
        return bool(pods) and any(
            c.reason == "Unschedulable" for c in pods[0].status.conditions or []
        )

    await eventually(unschedulable)
    (pending,) = await _pods(core, "second")
    cond = next(c for c in pending.status.conditions if c.type == "PodScheduled")
    assert pending.status.phase == "Pending"
    assert cond.status == "False"
    assert "Insufficient nvidia.com/gpu" in cond.message
    assert cond.message.startswith("0/4 nodes are available")
    d = await apps.read_namespaced_deployment("second", "default")
    assert d.status.unavailable_replicas == 1
    assert not d.status.ready_replicas
    # freeing the node lets the pending pod schedule
    await apps.delete_namespaced_deployment("big", "default")
    await eventually(lambda: _ready(apps, "second"))


async def _ready(apps: Any, name: str, replicas: int = 1) -> bool:
    d = await apps.read_namespaced_deployment(name, "default")
    return bool(
        d.status.ready_replicas == replicas
        and d.status.observed_generation == d.metadata.generation
    )


async def test_too_many_gpus_stays_pending(api: Any) -> None:
    apps: Any = client.AppsV1Api(api)
    core: Any = client.CoreV1Api(api)
    await apps.create_namespaced_deployment("default", deployment("huge", gpus=16))

    async def pending() -> bool:
        pods = await _pods(core, "huge")
        return bool(pods) and any(
            c.reason == "Unschedulable" for c in pods[0].status.conditions or []
        )

    await eventually(pending)
    await asyncio.sleep(0.2)
    d = await apps.read_namespaced_deployment("huge", "default")
    assert {c.type: c.status for c in d.status.conditions}["Available"] == "False"


async def test_scale_template_change_and_delete(api: Any) -> None:
    apps: Any = client.AppsV1Api(api)
    core: Any = client.CoreV1Api(api)
    await apps.create_namespaced_deployment("default", deployment("s", replicas=2))
    await eventually(lambda: _ready(apps, "s", 2))
    await apps.patch_namespaced_deployment_scale("s", "default", {"spec": {"replicas": 3}})
    await eventually(lambda: _ready(apps, "s", 3))
    before = {p.metadata.name for p in await _pods(core, "s")}
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "vllm-openai", "image": "vllm/vllm-openai:v1.0"}]}
            }
        }
    }
    await apps.patch_namespaced_deployment("s", "default", patch)
    await eventually(lambda: _ready(apps, "s", 3))
    after = await _pods(core, "s")
    assert len(after) == 3
    assert not before & {p.metadata.name for p in after}
    assert {p.spec.containers[0].image for p in after} == {"vllm/vllm-openai:v1.0"}
    await apps.delete_namespaced_deployment("s", "default")

    async def gone() -> bool:
        return not await _pods(core, "s")

    await eventually(gone)


async def test_image_failures(api: Any) -> None:
    apps: Any = client.AppsV1Api(api)
    core: Any = client.CoreV1Api(api)
    await apps.create_namespaced_deployment(
        "default", deployment("pull", image="registry/does-not-exist:1")
    )
    await apps.create_namespaced_deployment(
        "default", deployment("crash", image="registry/crashloop:1")
    )

    async def waiting(name: str, reason: str) -> bool:
        pods = await _pods(core, name)
        statuses = (pods[0].status.container_statuses or []) if pods else []
        return any(s.state.waiting and s.state.waiting.reason == reason for s in statuses)

    await eventually(lambda: waiting("pull", "ImagePullBackOff"))
    await eventually(lambda: waiting("crash", "CrashLoopBackOff"))
    (pull,) = await _pods(core, "pull")
    assert pull.status.phase == "Pending"

    async def restarted_twice() -> bool:
        (pod,) = await _pods(core, "crash")
        return bool(pod.status.container_statuses[0].restart_count >= 2)

    await eventually(restarted_twice, within=4)
    d = await apps.read_namespaced_deployment("crash", "default")
    assert not d.status.ready_replicas


async def test_pvc_binds_to_default_storage_class(api: Any) -> None:
    core: Any = client.CoreV1Api(api)
    pvc = {
        "metadata": {"name": "cache"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}}},
    }
    await core.create_namespaced_persistent_volume_claim("default", pvc)

    async def bound() -> bool:
        got = await core.read_namespaced_persistent_volume_claim("cache", "default")
        return bool(got.status.phase == "Bound" and got.spec.storage_class_name == "standard")

    await eventually(bound)
