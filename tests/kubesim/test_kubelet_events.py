"""The kubelet's Events, as the official client and `kubectl describe` show them: image
pulls, container starts, pull failures and crash-loop back-offs counted up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.kubesim.conftest import deployment, kubectl
from tests.kubesim.test_rollouts import Cluster
from tests.waiting import poll

pytestmark = pytest.mark.integration


async def _pod_events(cluster: Cluster, app: str, *, until: Any) -> tuple[Any, list[Any]]:
    async def probe() -> tuple[Any, list[Any]]:
        pods = await cluster.pods(app)
        if not pods:
            return None, []
        return pods[0], await cluster.events("Pod", pods[0].metadata.name)

    return await poll(probe, until=lambda found: until(found[1]))


def _reasons(found: list[Any]) -> list[str]:
    return [e.reason for e in found]


@pytest.mark.kubectl
async def test_a_started_pod_tells_its_pull_create_and_start(
    kubeconfig_path: Path,
) -> None:
    cluster = Cluster(kubeconfig_path)
    await cluster.create(deployment("ok"))
    pod, found = await _pod_events(cluster, "ok", until=lambda f: "Started" in _reasons(f))
    pulling, pulled, created, started = (
        next(e for e in found if e.reason == r) for r in ("Pulling", "Pulled", "Created", "Started")
    )
    image = "vllm/vllm-openai:v0.9.0"
    assert pulling.message == f'Pulling image "{image}"'
    assert pulled.message.startswith(f'Successfully pulled image "{image}" in ')
    assert created.message == "Created container: vllm-openai"
    assert started.message == "Started container vllm-openai"
    for e in (pulling, pulled, created, started):
        assert e.type == "Normal"
        assert e.source.component == "kubelet"
        assert e.source.host == pod.spec.node_name
        assert e.involved_object.field_path == "spec.containers{vllm-openai}"
        assert e.involved_object.uid == pod.metadata.uid
        assert e.count == 1
    described = await asyncio.to_thread(
        kubectl, kubeconfig_path, "describe", "pod", pod.metadata.name
    )
    assert "Started container vllm-openai" in described.stdout


async def test_pull_failures_and_crash_loops_are_warned_and_counted(
    kubeconfig_path: Path,
) -> None:
    cluster = Cluster(kubeconfig_path)
    await cluster.create(deployment("pull", image="registry/does-not-exist:1"))
    await cluster.create(deployment("crash", image="registry/crashloop:1"))

    _pod, found = await _pod_events(cluster, "pull", until=lambda f: "BackOff" in _reasons(f))
    failed = [e.message for e in found if e.reason == "Failed"]
    assert failed[0].startswith('Failed to pull image "registry/does-not-exist:1": ')
    assert "Error: ErrImagePull" in failed
    assert "Error: ImagePullBackOff" in failed
    assert {e.type for e in found if e.reason == "Failed"} == {"Warning"}
    assert "Started" not in _reasons(found)

    def restarted(events: list[Any]) -> bool:
        return any(e.reason == "BackOff" and e.count >= 3 for e in events)

    pod, found = await _pod_events(cluster, "crash", until=restarted)
    back_off = next(e for e in found if e.reason == "BackOff")
    meta = pod.metadata
    assert back_off.type == "Warning"
    assert back_off.message == (
        f"Back-off restarting failed container vllm-openai in pod "
        f"{meta.name}_{meta.namespace}({meta.uid})"
    )
    assert back_off.last_timestamp >= back_off.first_timestamp
    assert next(e for e in found if e.reason == "Started").count >= 2
