"""`kubectl logs` (-f, --tail, --previous, --timestamps, -c) and the official client's
`read_namespaced_pod_log` against simulated container output a scenario can shape."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kubesim import KubeSim
from kubesim.scenario import LogSpec, default_scenario
from tests.kubesim.conftest import deployment, kubectl, kubectl_binary
from tests.kubesim.test_rollouts import Cluster
from tests.plugins.kubesim import SimFactory
from tests.waiting import poll

pytestmark = pytest.mark.integration

STARTED = "INFO:     Application startup complete."


async def _running_pod(cluster: Cluster, app: str, *, restarted: bool = False) -> Any:
    def ready(pods: list[Any]) -> bool:
        statuses = (pods[0].status.container_statuses or []) if pods else []
        if restarted:
            return any(s.restart_count for s in statuses)
        return any(s.state.running for s in statuses)

    pods = await poll(lambda: cluster.pods(app), until=ready)
    return pods[0]


def _vllm(name: str) -> dict[str, Any]:
    body = deployment(name)
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["args"] = ["--model", "Qwen/Qwen3-8B", "--port", "8000"]
    return body


async def _logs(kubeconfig: Path, *args: str, ok: bool = True) -> Any:
    return await asyncio.to_thread(kubectl, kubeconfig, "logs", *args, ok=ok)


@pytest.mark.kubectl
async def test_a_vllm_container_logs_its_start_up(kubeconfig_path: Path) -> None:
    cluster = Cluster(kubeconfig_path)
    await cluster.create(_vllm("vllm"))
    pod = await _running_pod(cluster, "vllm")
    name = pod.metadata.name
    lines = (await _logs(kubeconfig_path, name)).stdout.splitlines()
    assert lines[-1] == STARTED
    assert any("Starting to load model Qwen/Qwen3-8B..." in line for line in lines)
    assert (await _logs(kubeconfig_path, name, "--tail=2")).stdout.splitlines() == [
        "INFO:     Waiting for application startup.",
        STARTED,
    ]
    stamped = (await _logs(kubeconfig_path, name, "--tail=1", "--timestamps")).stdout
    stamp, line = stamped.rstrip("\n").split(" ", 1)
    assert line == STARTED
    assert datetime.fromisoformat(stamp.replace("000Z", "+00:00")).year >= 2025
    previous = await _logs(kubeconfig_path, name, "--previous", ok=False)
    assert previous.returncode != 0
    assert f'previous terminated container "vllm-openai" in pod "{name}" not found' in (
        previous.stderr
    )

    def read() -> str:
        from kubernetes import client

        from tests.kubesim.conftest import official_client

        with official_client(kubeconfig_path) as api:
            core: Any = client.CoreV1Api(api)
            return str(core.read_namespaced_pod_log(name, "default", tail_lines=1))

    assert await asyncio.to_thread(read) == STARTED + "\n"


@pytest.mark.kubectl
async def test_a_crash_loop_shows_its_traceback(kubeconfig_path: Path) -> None:
    cluster = Cluster(kubeconfig_path)
    await cluster.create(deployment("crash", image="vllm/vllm-openai-crashloop:1"))
    await cluster.create(deployment("pull", image="registry/does-not-exist:1"))
    pod = await _running_pod(cluster, "crash", restarted=True)
    previous = (await _logs(kubeconfig_path, pod.metadata.name, "--previous")).stdout
    assert "Traceback (most recent call last):" in previous
    assert previous.splitlines()[-1].startswith("torch.OutOfMemoryError: CUDA out of memory.")
    assert STARTED not in previous

    def waiting(pods: list[Any]) -> bool:
        statuses = (pods[0].status.container_statuses or []) if pods else []
        return any(
            s.state.waiting and s.state.waiting.reason == "ImagePullBackOff" for s in statuses
        )

    (pulling,) = await poll(lambda: cluster.pods("pull"), until=waiting)
    refused = await _logs(kubeconfig_path, pulling.metadata.name, ok=False)
    assert (
        f'container "vllm-openai" in pod "{pulling.metadata.name}" is waiting to start: '
        "trying and failing to pull image"
    ) in refused.stderr


@pytest.mark.kubectl
async def test_follow_ends_when_the_pod_goes(kubeconfig_path: Path) -> None:
    cluster = Cluster(kubeconfig_path)
    await cluster.create(_vllm("follow"))
    pod = await _running_pod(cluster, "follow")
    process = await asyncio.create_subprocess_exec(
        kubectl_binary(),
        "--kubeconfig",
        str(kubeconfig_path),
        "logs",
        "-f",
        "--tail=1",
        pod.metadata.name,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), timeout=20)
        assert first.decode().rstrip("\n") == STARTED
        assert process.returncode is None, "kubectl logs -f ended before the pod went"
        await cluster.call("CoreV1Api", "delete_namespaced_pod", pod.metadata.name, "default")
        rest, _ = await asyncio.wait_for(process.communicate(), timeout=20)
        code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0
    assert rest == b""


@pytest.mark.kubectl
async def test_a_scenario_shapes_what_containers_print(
    kubesim_factory: SimFactory, tmp_path: Path
) -> None:
    scenario = default_scenario().model_copy(
        update={
            "logs": [
                LogSpec(image="acme/*", lines=["booting", "serving on :9000"]),
                LogSpec(image="crashloop", previous=["panic: config missing"]),
            ]
        }
    )
    sim: KubeSim
    async with kubesim_factory(scenario=scenario) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        cluster = Cluster(kubeconfig)
        body = deployment("two", image="acme/api:2")
        body["spec"]["template"]["spec"]["containers"].append(
            {"name": "sidecar", "image": "busybox:1.36"}
        )
        await cluster.create(body)
        await cluster.create(deployment("boom", image="other/crashloop:1"))
        pod = await _running_pod(cluster, "two")
        name = pod.metadata.name
        defaulted = await _logs(kubeconfig, name)
        assert defaulted.stdout == "booting\nserving on :9000\n"
        assert 'Defaulted container "vllm-openai" out of: vllm-openai, sidecar' in defaulted.stderr
        from kubernetes.client.exceptions import ApiException

        with pytest.raises(ApiException) as refused:
            await cluster.call("CoreV1Api", "read_namespaced_pod_log", name, "default")
        assert refused.value.status == 400
        assert (
            f"a container name must be specified for pod {name}, choose one of: "
            "[vllm-openai sidecar]"
        ) in str(refused.value.body)
        shaped = await _logs(kubeconfig, name, "-c", "vllm-openai")
        assert shaped.stdout == "booting\nserving on :9000\n"
        sidecar = await _logs(kubeconfig, name, "-c", "sidecar")
        assert sidecar.stdout == "Started sidecar (busybox:1.36)\n"
        wrong = await _logs(kubeconfig, name, "-c", "nope", ok=False)
        assert f"container nope is not valid for pod {name}" in wrong.stderr
        crashed = await _running_pod(cluster, "boom", restarted=True)
        previous = await _logs(kubeconfig, crashed.metadata.name, "--previous")
        assert previous.stdout == "panic: config missing\n"
