"""`jan-models dev` stopped and started again on its data directory: the whole stack comes
back as it was left. kubesim takes up its cluster, NATS its streams and MongoDB the
registry, so a model keeps running in the very objects it had (its Deployment, Service,
Secret, PVC and autoscaler: same uids, same resourceVersions), and nothing reports drift
(the inventory finds every object it knew).

The stack is the one the dev command builds (`dev_stack_config`), so a dev command that
stopped keeping its cluster would fail here."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from jan_models.cli import app
from jan_models.commands import dev as dev_command
from jan_models.commands.dev import dev_stack_config
from jan_models.dev_keys import ensure_dev_key
from jan_models.stack import LocalStack, StackConfig
from services.deployer.kinds import ALL_KINDS
from shared.labels import MODEL_ID
from tests.e2e.test_walkthrough import MODELS, body, follow_status
from tests.kubesim.conftest import official_client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480)]

ORG_ID = 7


@asynccontextmanager
async def dev_stack(config: StackConfig) -> AsyncIterator[LocalStack]:
    """The stack `jan-models dev` composes, up until the block exits, then stopped as
    Ctrl-C stops it."""
    async with LocalStack(config).running_async() as stack:
        yield stack


class _NotStartedError(Exception):
    """The stand-in for LocalStack records the config the dev command hands it, then
    refuses to start anything."""


def test_the_dev_command_runs_the_stack_dev_stack_config_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[StackConfig] = []

    def record(config: StackConfig) -> None:
        built.append(config)
        raise _NotStartedError

    monkeypatch.setattr(dev_command, "LocalStack", record)
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # pytest keeps its handlers
    result = CliRunner().invoke(app, ["dev", "--data-dir", str(tmp_path), "--ready-delay", "0.5"])
    assert isinstance(result.exception, _NotStartedError), result.output
    (config,) = built
    assert (config.data_dir, config.ready_delay) == (tmp_path.resolve(), 0.5)
    assert config.keep_cluster  # kubesim's cluster under the data directory


def _objects(kubeconfig: Path, model_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> each object the model owns, of every kind a model may own, read
    with the official client."""
    from kubernetes import client

    api = official_client(kubeconfig)
    apps: Any = client.AppsV1Api(api)
    core: Any = client.CoreV1Api(api)
    custom: Any = client.CustomObjectsApi(api)
    built_in = {
        "Deployment": apps.list_namespaced_deployment,
        "Service": core.list_namespaced_service,
        "Secret": core.list_namespaced_secret,
        "PersistentVolumeClaim": core.list_namespaced_persistent_volume_claim,
    }
    options = {"label_selector": f"{MODEL_ID}={model_id}", "_preload_content": False}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for kind in ALL_KINDS:
        if kind.crd is None:
            raw = built_in[kind.kind]("jan-models", **options)
        else:
            version = kind.api_version.rpartition("/")[2]
            raw = custom.list_namespaced_custom_object(
                kind.group, version, "jan-models", kind.plural, **options
            )
        for item in json.loads(raw.data)["items"]:
            found[(kind.kind, item["metadata"]["name"])] = item
    return found


def _identities(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[Any, tuple[str, str]]:
    return {
        key: (obj["metadata"]["uid"], obj["metadata"]["resourceVersion"])
        for key, obj in objects.items()
    }


async def _event_types(api: httpx.AsyncClient, model_id: str) -> list[str]:
    response = await api.get(f"{MODELS}/{model_id}/events", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [e["type"].rpartition(".")[2] for e in response.json()["events"]]


async def test_the_dev_stack_comes_back_with_its_models_running_where_they_ran(
    tmp_path: Path,
) -> None:
    config = replace(
        dev_stack_config(tmp_path, ready_delay=0.5),
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
            before = await asyncio.to_thread(_objects, stack.kubeconfig_path, model_id)
            assert before[("Deployment", "kept-model")]["status"]["readyReplicas"] == 1
            # every kind a model may own: the dev cluster serves the CRDs' kinds too
            assert {kind for kind, _ in before} == {kind.kind for kind in ALL_KINDS}
            told_before = await _event_types(api, model_id)
        kubeconfig = stack.kubeconfig_path

    async with (
        dev_stack(config) as stack,
        httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=10) as api,
    ):
        # the same objects, untouched, and the model running in them all along
        after = await asyncio.to_thread(_objects, kubeconfig, model_id)
        assert _identities(after) == _identities(before)
        assert after[("Deployment", "kept-model")]["status"]["readyReplicas"] == 1
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
        again = await asyncio.to_thread(_objects, kubeconfig, model_id)
        assert _identities(again) == _identities(before)
