"""Fault injection (Python and HTTP), the official client, and kubectl."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim import KubeSim
from tests.kubesim.conftest import kubectl as run_kubectl

pytestmark = pytest.mark.integration


async def test_faults_via_python(api: Any, kubesim: KubeSim) -> None:
    core: Any = client.CoreV1Api(api)
    kubesim.faults.set(error_rate=1.0, error_codes=(429,))
    with pytest.raises(ApiException) as err:
        await core.list_node()
    assert err.value.status == 429
    assert json.loads(err.value.body or "{}")["reason"] == "TooManyRequests"
    assert (await client.VersionApi(api).get_code()).git_version.startswith("v1.32")
    kubesim.faults.clear()
    kubesim.faults.set(latency=0.2)
    start = time.monotonic()
    await core.list_node()
    assert time.monotonic() - start >= 0.2
    kubesim.faults.clear()


async def test_faults_via_http_control(kubesim: KubeSim) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            kubesim.url + "/_kubesim/faults", json={"error_rate": 1, "error_codes": [500]}
        ) as resp:
            assert resp.status == 200
        async with session.get(kubesim.url + "/api/v1/nodes") as resp:
            assert resp.status == 500
        async with session.get(kubesim.url + "/healthz") as resp:
            assert resp.status == 200
        async with session.delete(kubesim.url + "/_kubesim/faults") as resp:
            assert resp.status == 200
        async with session.post(kubesim.url + "/_kubesim/expire-next-watch") as resp:
            assert (await resp.json())["expire_next_watch"] == 1
        async with session.get(kubesim.url + "/api/v1/nodes?watch=true") as resp:
            line = json.loads(await resp.content.readline())
        assert line["type"] == "ERROR"
        assert line["object"]["code"] == 410
        async with session.post(kubesim.url + "/_kubesim/cut-watches") as resp:
            assert (await resp.json())["cut"] == 0


async def test_official_client(kubeconfig_path: Path) -> None:
    def list_nodes() -> list[str]:
        from kubernetes import client as sync_client
        from kubernetes import config as sync_config

        new_client: Any = sync_config.new_client_from_config
        api = new_client(config_file=str(kubeconfig_path))
        with api:
            core: Any = sync_client.CoreV1Api(api)
            return [str(n.metadata.name) for n in core.list_node().items]

    assert "gpu-h100-1" in await asyncio.to_thread(list_nodes)


DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: "nginx:1.27", resources: {requests: {cpu: 100m}}}]
"""


@pytest.mark.kubectl
async def test_kubectl(kubeconfig_path: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "d.yaml"
    manifest.write_text(DEPLOYMENT_YAML)

    def kubectl(*args: str) -> str:
        return run_kubectl(kubeconfig_path, *args).stdout

    assert "gpu-l4-1" in await asyncio.to_thread(kubectl, "get", "nodes")
    assert "created" in await asyncio.to_thread(kubectl, "apply", "-f", str(manifest))
    manifest.write_text(DEPLOYMENT_YAML.replace("replicas: 1", "replicas: 2"))
    assert "configured" in await asyncio.to_thread(kubectl, "apply", "-f", str(manifest))
    listed = json.loads(await asyncio.to_thread(kubectl, "get", "deploy", "-A", "-o", "json"))
    assert [(d["metadata"]["name"], d["spec"]["replicas"]) for d in listed["items"]] == [("web", 2)]
    assert "deleted" in await asyncio.to_thread(kubectl, "delete", "-f", str(manifest))
    assert "web" not in await asyncio.to_thread(kubectl, "get", "deploy", "-A")
