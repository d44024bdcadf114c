"""A developer's working day with kubectl against kubesim, each answer checked: apply and
create without --validate=false, explain, get -w, describe with Events, logs, rollout
status/history/undo, scale, cordon/drain/uncordon, delete with a grace period."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from tests.kubesim.conftest import kubectl, kubectl_binary

pytestmark = [pytest.mark.integration, pytest.mark.kubectl]

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: day}
spec:
  replicas: 2
  selector: {matchLabels: {app: day}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: day}}
    spec:
      containers:
      - name: vllm-openai
        image: vllm/vllm-openai:v0.9.0
        args: [--model, Qwen/Qwen3-0.6B]
        resources: {requests: {cpu: 100m, memory: 128Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: day}
spec:
  selector: {app: day}
  ports: [{name: serve, port: 8000, targetPort: 8000}]
"""
CONFIG = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: day-config}\ndata: {mode: fast}\n"


async def test_a_working_day(kubeconfig_path: Path, tmp_path: Path) -> None:
    async def run(*args: str) -> str:
        return str((await asyncio.to_thread(kubectl, kubeconfig_path, *args)).stdout)

    (tmp_path / "app.yaml").write_text(APP)
    (tmp_path / "config.yaml").write_text(CONFIG)
    applied = await run("apply", "-f", str(tmp_path / "app.yaml"))
    assert applied.splitlines() == ["deployment.apps/day created", "service/day created"]
    assert "configmap/day-config created" in await run(
        "create", "-f", str(tmp_path / "config.yaml")
    )
    assert "maxSurge\t<IntOrString>" in await run(
        "explain", "deployment.spec.strategy.rollingUpdate"
    )
    assert "successfully rolled out" in await run(
        "rollout", "status", "deploy/day", "--timeout=60s"
    )

    watch = await asyncio.create_subprocess_exec(
        kubectl_binary(), "--kubeconfig", str(kubeconfig_path), "get", "pods", "-l", "app=day",
        "-w", "--output-watch-events", "--no-headers",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert watch.stdout is not None
        for _ in range(2):  # the two running pods, listed first
            assert "ADDED" in (await asyncio.wait_for(watch.stdout.readline(), 30)).decode()
        assert "deployment.apps/day scaled" in await run("scale", "deploy/day", "--replicas=3")
        added = (await asyncio.wait_for(watch.stdout.readline(), 30)).decode()
        assert added.split()[0] == "ADDED"
    finally:
        watch.kill()
        await watch.wait()
    await run("rollout", "status", "deploy/day", "--timeout=60s")
    pods = json.loads(await run("get", "pods", "-l", "app=day", "-o", "json"))["items"]
    assert len(pods) == 3
    pod = pods[0]["metadata"]["name"]

    described = await run("describe", "pod", pod)
    events = described.split("Events:", 1)[1]
    for line in ("Pulling", "Pulled", "Created", "Started container vllm-openai"):
        assert line in events
    logs = await run("logs", pod, "--tail=1")
    assert logs == "INFO:     Application startup complete.\n"

    await run("set", "image", "deploy/day", "vllm-openai=vllm/vllm-openai:v0.10.0")
    await run("rollout", "status", "deploy/day", "--timeout=60s")
    history = await run("rollout", "history", "deploy/day")
    assert re.findall(r"^(\d+)\s", history, re.M) == ["1", "2"]
    assert "rolled back" in await run("rollout", "undo", "deploy/day")
    await run("rollout", "status", "deploy/day", "--timeout=60s")
    image = await run(
        "get", "deploy/day", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    )
    assert image == "vllm/vllm-openai:v0.9.0"

    current = json.loads(await run("get", "pods", "-l", "app=day", "-o", "json"))["items"]
    node = current[0]["spec"]["nodeName"]  # the undo replaced every pod: one of today's
    assert f"node/{node} cordoned" in await run("cordon", node)
    assert await run("get", "node", node, "-o", "jsonpath={.spec.unschedulable}") == "true"
    drained = await run("drain", node, "--ignore-daemonsets", "--timeout=60s")
    assert f"node/{node} drained" in drained
    await run("rollout", "status", "deploy/day", "--timeout=60s")
    placed = json.loads(await run("get", "pods", "-l", "app=day", "-o", "json"))["items"]
    assert len(placed) == 3
    assert node not in {p["spec"]["nodeName"] for p in placed}
    assert f"node/{node} uncordoned" in await run("uncordon", node)

    victim = placed[0]["metadata"]["name"]
    assert f'pod "{victim}" deleted' in await run("delete", "pod", victim, "--grace-period=5")
    assert (
        "NotFound"
        in (
            await asyncio.to_thread(kubectl, kubeconfig_path, "get", "pod", victim, ok=False)
        ).stderr
    )
    deleted = await run("delete", "-f", str(tmp_path / "app.yaml"))
    assert deleted.splitlines() == ['deployment.apps "day" deleted', 'service "day" deleted']
