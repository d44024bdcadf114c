"""The seed document's walkthrough against the whole stack, through HTTP only."""

import asyncio
import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from services.api.web.examples import SEED_CREATE_REQUEST as SEED_BODY
from tests.e2e.conftest import ORG_ID
from tests.waiting import eventually

MODELS = "/v1/organization/models"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def body(name: str, **config: Any) -> dict[str, Any]:
    """The seed's body under another name (its served name follows), with config overrides."""
    new = copy.deepcopy(SEED_BODY)
    new["name"] = name
    new["deployment_config"]["args"][1] = new["deployment_config"]["args"][1].replace(
        "qwen3-coder-30b", name
    )
    new["deployment_config"] |= config
    return new


async def follow_status(
    api: httpx.AsyncClient, model_id: str, *, until: str, within: float = 60
) -> list[str]:
    """Every distinct status seen while polling, until `until` (or a terminal one) is reached."""
    seen: list[str] = []

    async def reached() -> bool:
        response = await api.get(f"{MODELS}/{model_id}")
        status = (
            response.json()["model"]["status"]
            if response.status_code == 200
            else f"http {response.status_code}"
        )
        if not seen or seen[-1] != status:
            seen.append(status)
        return status in {until, "failed"} if until != "failed" else status == "failed"

    await eventually(reached, within=within)
    return seen


async def test_the_seed_walkthrough(api: httpx.AsyncClient, kubeconfig: Path) -> None:
    # 1. cluster status
    status = await api.get(f"{MODELS}/status")
    assert status.status_code == 200, status.text
    cluster = status.json()["cluster_status"]
    assert status.json()["organization_id"] == ORG_ID
    assert cluster["has_gpus"] is True
    assert cluster["total_gpus"] == 11
    assert {"gpu_operator_ok", "aibrix_ok", "kuberay_ok", "envoy_gateway_ok"} <= {
        k for k, v in cluster.items() if v is True
    }
    assert {node["gpu_count"] for node in cluster["gpu_nodes"]} == {1, 2, 8}

    # 3. create with the seed's own body
    created = await api.post(f"{MODELS}", json=SEED_BODY)
    assert created.status_code == 201, created.text
    model = created.json()["model"]
    assert model["status"] == "creating"
    assert model["name"] == "qwen3-coder-30b"
    assert model["organization_id"] == ORG_ID
    assert model["namespace"] == "jan-models"
    assert model["public_id"].startswith("mdl_")
    assert "hf_your_token_here" not in created.text

    # it moves creating -> deploying -> running
    seen = await follow_status(api, model["public_id"], until="running")
    assert seen[0] == "creating"
    assert seen[-1] == "running"
    assert "deploying" in seen

    # 4. list managed models; 5. details by public id and by integer id
    listed = (await api.get(f"{MODELS}")).json()
    assert listed["total"] >= 1
    assert any(
        m["public_id"] == model["public_id"] and m["status"] == "running" for m in listed["models"]
    )
    for model_id in (model["public_id"], str(model["id"])):
        details = (await api.get(f"{MODELS}/{model_id}")).json()["model"]
        assert details["endpoint_url"] == "http://qwen3-coder-30b.jan-models.svc.cluster.local:8000"
        assert details["deployment_name"] == details["service_name"] == "qwen3-coder-30b"
        assert details["requirements"]["gpu"]["min_vram"] == "24Gi"

    # 2. /all includes a Deployment added by hand
    await asyncio.to_thread(add_unmanaged_deployment, kubeconfig, name="external-model")

    async def both_listed() -> bool:
        entries = {m["name"]: m for m in (await api.get(f"{MODELS}/all")).json()["models"]}
        return "external-model" in entries and "qwen3-coder-30b" in entries

    await eventually(both_listed, within=30)
    entries = {m["name"]: m for m in (await api.get(f"{MODELS}/all")).json()["models"]}
    assert entries["external-model"]["is_managed"] is False
    assert entries["external-model"]["namespace"] == "default"
    assert entries["qwen3-coder-30b"]["is_managed"] is True
    assert entries["qwen3-coder-30b"]["display_name"] == "Qwen3 Coder 30B"

    # 6. delete, then 404
    deleted = await api.delete(f"{MODELS}/{model['public_id']}")
    assert deleted.status_code == 204

    async def gone() -> bool:
        return (await api.get(f"{MODELS}/{model['public_id']}")).status_code == 404

    await eventually(gone, within=60)
    assert (await api.get(f"{MODELS}/{model['public_id']}")).json() == {
        "error": f"model '{model['public_id']}' not found"
    }


async def test_a_model_whose_image_cannot_be_pulled_ends_failed_with_a_reason(
    api: httpx.AsyncClient,
) -> None:
    created = await api.post(
        MODELS, json=body("broken-image", image="example.invalid/does-not-exist:1")
    )
    assert created.status_code == 201, created.text
    public_id = created.json()["model"]["public_id"]

    seen = await follow_status(api, public_id, until="failed", within=90)

    details = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
    assert seen[-1] == "failed"
    assert "ImagePull" in details["status_reason"] or "ErrImage" in details["status_reason"]
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204


async def test_a_model_too_large_for_any_node_is_refused_with_the_seeds_message(
    api: httpx.AsyncClient,
) -> None:
    too_large = body("too-large", gpu_count=16)
    too_large["requirements"]["gpu"] = {"min_vram": "1280Gi", "min_gpus": 16, "max_gpus": 16}

    response = await api.post(f"{MODELS}", json=too_large)

    assert response.status_code == 400
    assert response.json() == {
        "error": "no GPU node can satisfy the requirements: min 16 GPUs with 1280Gi VRAM"
    }
    assert all(m["name"] != "too-large" for m in (await api.get(f"{MODELS}")).json()["models"])


def add_unmanaged_deployment(kubeconfig: Path, *, name: str) -> None:
    api_client = k8s_config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]  # unannotated upstream
    labels = {"model.aibrix.ai/name": name, "app": name}
    deployment: Any = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:latest"}]},
            },
        },
    }
    k8s.AppsV1Api(api_client).create_namespaced_deployment("default", deployment)
