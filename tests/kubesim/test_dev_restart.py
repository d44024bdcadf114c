"""`jan-models dev` stopped and started again on its data directory: the whole stack comes
back as it was left. kubesim takes up its cluster, NATS its streams and MongoDB the
registry, so a model keeps running in the very Deployment it had (same uid, same
resourceVersion), and nothing reports drift (the inventory finds every object it knew)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from jan_models.dev_keys import ensure_dev_key
from jan_models.stack import LocalStack, StackConfig
from tests.e2e.test_walkthrough import MODELS, body, follow_status
from tests.kubesim.conftest import official_client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480)]

ORG_ID = 7


@asynccontextmanager
async def dev_stack(config: StackConfig) -> AsyncIterator[LocalStack]:
    """The stack `jan-models dev` composes (`keep_cluster` as it sets it), up until the
    block exits, then stopped as Ctrl-C stops it."""
    async with LocalStack(config).running_async() as stack:
        yield stack


def _deployment(kubeconfig: Path, name: str) -> dict[str, Any]:
    from kubernetes import client

    apps: Any = client.AppsV1Api(official_client(kubeconfig))
    raw = apps.read_namespaced_deployment(name, "jan-models", _preload_content=False)
    found: dict[str, Any] = json.loads(raw.data)
    return found


async def _event_types(api: httpx.AsyncClient, model_id: str) -> list[str]:
    response = await api.get(f"{MODELS}/{model_id}/events", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [e["type"].rpartition(".")[2] for e in response.json()["events"]]


async def test_the_dev_stack_comes_back_with_its_models_running_where_they_ran(
    tmp_path: Path,
) -> None:
    config = StackConfig(
        data_dir=tmp_path,
        ready_delay=0.5,
        keep_cluster=True,
        # drift is told as soon as it is seen, so none can hide behind the grace
        extra_env={"JAN_MODELS_INVENTORY_DRIFT_GRACE_SECONDS": "0"},
    ).with_free_ports()
    key = "jm_dev_" + secrets.token_urlsafe(24)
    headers = {"Authorization": f"Bearer {key}"}

    async with dev_stack(config) as stack:
        await ensure_dev_key(stack.mongodb_url, organization_id=ORG_ID, key=key)
        async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=10) as api:
            created = await api.post(MODELS, json=body("kept-model"))
            assert created.status_code == 201, created.text
            model_id = created.json()["model"]["public_id"]
            assert (await follow_status(api, model_id, until="running"))[-1] == "running"
            before = await asyncio.to_thread(_deployment, stack.kubeconfig_path, "kept-model")
            assert before["status"]["readyReplicas"] == 1
            told_before = await _event_types(api, model_id)
        kubeconfig = stack.kubeconfig_path

    async with (
        dev_stack(config) as stack,
        httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=10) as api,
    ):
        # the same Deployment, untouched, and the model running in it all along
        after = await asyncio.to_thread(_deployment, kubeconfig, "kept-model")
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert after["status"]["readyReplicas"] == 1
        details = (await api.get(f"{MODELS}/{model_id}")).json()["model"]
        assert details["status"] == "running"
        # another model going through the whole stack proves the inventory has listed
        # the cluster and acted on what it saw (any drift would be told by then)
        other = await api.post(MODELS, json=body("after-restart"))
        assert other.status_code == 201, other.text
        other_id = other.json()["model"]["public_id"]
        assert (await follow_status(api, other_id, until="running"))[-1] == "running"
        told_after = await _event_types(api, model_id)
        assert told_after == told_before
        assert "drifted" not in told_after
        assert "repaired" not in told_after
        again = await asyncio.to_thread(_deployment, kubeconfig, "kept-model")
        assert again["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
