"""The deletion lifecycle through the official client and kubectl: graceful pods
Terminating until their containers exit, --force, finalizers honoured, and foreground,
background and orphan cascades through owner references."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kubesim.scenario import default_scenario
from tests.kubesim.conftest import deployment, kubectl
from tests.kubesim.test_rollouts import Cluster
from tests.plugins.kubesim import SimFactory
from tests.waiting import eventually, poll

pytestmark = pytest.mark.integration


async def _gone(cluster: Cluster, api: str, method: str, *args: Any) -> bool:
    try:
        await cluster.call(api, method, *args)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


async def _pod_gone(cluster: Cluster, name: str) -> bool:
    return await _gone(cluster, "CoreV1Api", "read_namespaced_pod", name, "default")


async def _running(cluster: Cluster, app: str, count: int = 1) -> list[Any]:
    def ready(pods: list[Any]) -> bool:
        running = [p for p in pods if p.status.phase == "Running"]
        return len(running) == count and not any(p.metadata.deletion_timestamp for p in pods)

    return await poll(lambda: cluster.pods(app), until=ready)


@pytest.mark.kubectl
async def test_a_deleted_pod_is_terminating_until_its_containers_exit(
    kubeconfig_path: Path,
) -> None:
    cluster = Cluster(kubeconfig_path)
    await cluster.create(deployment("g"))
    (pod,) = await _running(cluster, "g")
    name = pod.metadata.name
    answer = await cluster.call("CoreV1Api", "delete_namespaced_pod", name, "default")
    assert answer.metadata.name == name
    assert answer.metadata.deletion_timestamp is not None
    assert answer.metadata.deletion_grace_period_seconds == 30
    table = await asyncio.to_thread(kubectl, kubeconfig_path, "get", "pod", name)
    assert "Terminating" in table.stdout
    again = await cluster.call("CoreV1Api", "delete_namespaced_pod", name, "default")
    assert again.metadata.deletion_timestamp == answer.metadata.deletion_timestamp
    await eventually(lambda: _pod_gone(cluster, name))
    killing = [e for e in await cluster.events("Pod", name) if e.reason == "Killing"]
    assert [e.message for e in killing] == ["Stopping container vllm-openai"]
    # the ReplicaSet replaced it as soon as it was Terminating
    await _running(cluster, "g")

    (replacement,) = await cluster.pods("g")
    forced = await asyncio.to_thread(
        kubectl,
        kubeconfig_path,
        "delete",
        "pod",
        replacement.metadata.name,
        "--grace-period=0",
        "--force",
    )
    assert "force deleted" in forced.stdout
    assert await _pod_gone(cluster, replacement.metadata.name)


async def test_the_grace_period_caps_the_time_to_exit(
    kubesim_factory: SimFactory, tmp_path: Path
) -> None:
    scenario = default_scenario().model_copy(update={"pod_termination_seconds": 3600})
    async with kubesim_factory(scenario=scenario) as sim:
        cluster = Cluster(sim.write_kubeconfig(tmp_path / "kubeconfig"))
        await cluster.create(deployment("slow", replicas=2))
        slow, quick = await _running(cluster, "slow", 2)
        await cluster.call("CoreV1Api", "delete_namespaced_pod", slow.metadata.name, "default")
        await cluster.call(
            "CoreV1Api",
            "delete_namespaced_pod",
            quick.metadata.name,
            "default",
            grace_period_seconds=1,
        )
        await eventually(lambda: _pod_gone(cluster, quick.metadata.name))
        still = await cluster.call(
            "CoreV1Api", "read_namespaced_pod", slow.metadata.name, "default"
        )
        assert still.metadata.deletion_grace_period_seconds == 30


async def test_finalizers_keep_an_object_until_removed(kubeconfig_path: Path) -> None:
    cluster = Cluster(kubeconfig_path)
    body = {"metadata": {"name": "kept", "finalizers": ["example.com/keep"]}, "data": {"a": "1"}}
    await cluster.call("CoreV1Api", "create_namespaced_config_map", "default", body)
    await cluster.call("CoreV1Api", "delete_namespaced_config_map", "kept", "default")
    kept = await cluster.call("CoreV1Api", "read_namespaced_config_map", "kept", "default")
    assert kept.metadata.deletion_timestamp is not None
    assert kept.metadata.finalizers == ["example.com/keep"]
    patch = {"metadata": {"finalizers": None}}
    await cluster.call("CoreV1Api", "patch_namespaced_config_map", "kept", "default", patch)
    assert await _gone(cluster, "CoreV1Api", "read_namespaced_config_map", "kept", "default")


async def test_foreground_deletion_waits_for_every_dependent(kubeconfig_path: Path) -> None:
    cluster = Cluster(kubeconfig_path)
    await cluster.create(deployment("fg", replicas=2))
    await _running(cluster, "fg", 2)
    await cluster.call(
        "AppsV1Api",
        "delete_namespaced_deployment",
        "fg",
        "default",
        propagation_policy="Foreground",
    )
    d = await cluster.deployment("fg")
    assert d.metadata.finalizers == ["foregroundDeletion"]
    assert d.metadata.deletion_timestamp is not None
    await eventually(
        lambda: _gone(cluster, "AppsV1Api", "read_namespaced_deployment", "fg", "default")
    )
    # the Deployment went last: nothing it owned, directly or not, is left
    assert await cluster.replica_sets("fg") == []
    assert await cluster.pods("fg") == []


async def test_background_and_orphan_cascades(kubeconfig_path: Path) -> None:
    cluster = Cluster(kubeconfig_path)
    await cluster.create(deployment("bg"))
    await cluster.create(deployment("orphan"))
    (bg_pod,) = await _running(cluster, "bg")
    (orphan_pod,) = await _running(cluster, "orphan")

    await cluster.call("AppsV1Api", "delete_namespaced_deployment", "bg", "default")
    assert await _gone(cluster, "AppsV1Api", "read_namespaced_deployment", "bg", "default")
    await eventually(lambda: _pod_gone(cluster, bg_pod.metadata.name))
    assert await cluster.replica_sets("bg") == []

    await cluster.call(
        "AppsV1Api",
        "delete_namespaced_deployment",
        "orphan",
        "default",
        propagation_policy="Orphan",
    )
    assert await _gone(cluster, "AppsV1Api", "read_namespaced_deployment", "orphan", "default")
    (rs,) = await cluster.replica_sets("orphan")
    assert not rs.metadata.owner_references
    (pod,) = await cluster.pods("orphan")
    assert pod.metadata.name == orphan_pod.metadata.name
    assert pod.metadata.deletion_timestamp is None
    assert pod.metadata.owner_references[0].name == rs.metadata.name
