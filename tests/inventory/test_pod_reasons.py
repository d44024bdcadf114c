"""A failed model's reason in Kubernetes' own words: its pods' Warning Events and the last
lines its crashed container printed, never a secret (integration, against kubesim)."""

from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, AppsV1Api
from nats.aio.client import Client

from kubesim import KubeSim
from kubesim.logs import LogBook, Script
from services.inventory.runtime import InventoryRuntime
from shared.events import ModelFailed
from tests.inventory.support import deployment
from tests.inventory.test_models_and_recovery import MODEL, events
from tests.waiting import poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOKEN = "hf_" + "Zq7" * 8


async def failures(nc: Client, kube: ApiClient, name: str, **changes: Any) -> Any:
    log = await events(nc)
    manifest = deployment(name, managed=MODEL | {"public_id": f"mdl_{name:0>12}"[:16]}, **changes)
    await AppsV1Api(kube).create_namespaced_deployment("default", manifest)  # type: ignore[arg-type]
    return log


async def test_an_image_that_cannot_be_pulled_says_what_the_pull_answered(
    inventory: InventoryRuntime, nats_client: Client, kube: ApiClient
) -> None:
    image = "registry.example/does-not-exist:1"
    log = await failures(nats_client, kube, "unpullable", image=image)

    def explained(failed: list[ModelFailed]) -> bool:
        return any(f.data.message.startswith(f'Failed to pull image "{image}"') for f in failed)

    failed = await poll(lambda: log.of(ModelFailed), until=explained)
    assert failed[-1].data.reason in {"ImagePullBackOff", "ErrImagePull"}
    assert "not found" in failed[-1].data.message


async def test_a_crash_loop_says_what_the_container_printed_last_without_secrets(
    inventory: InventoryRuntime, nats_client: Client, kube: ApiClient, kubesim: KubeSim
) -> None:
    kubesim.api.logs = LogBook(
        [
            Script(
                image="leaky",
                lines=("starting",),
                previous=(
                    "INFO starting vllm",
                    f"DEBUG HF_TOKEN={TOKEN} url=https://user:s3cret@hub.example/x",
                    f"Authorization: Bearer {TOKEN}",
                    "ValueError: model weights are corrupt",
                ),
            )
        ]
    )
    log = await failures(nats_client, kube, "leaky", image="vllm/vllm-openai:crashloop-leaky")

    def explained(failed: list[ModelFailed]) -> bool:
        return any("ValueError: model weights are corrupt" in f.data.message for f in failed)

    failed = await poll(lambda: log.of(ModelFailed), until=explained)
    message = failed[-1].data.message
    assert failed[-1].data.reason == "CrashLoopBackOff"
    assert message.endswith("ValueError: model weights are corrupt")
    assert TOKEN not in message
    assert "s3cret" not in message
    assert "HF_TOKEN=[redacted]" in message
    stored = [d async for d in inventory.memories.collection.find({})]
    assert TOKEN not in repr(stored)


async def test_an_unschedulable_model_says_what_the_scheduler_said(
    inventory: InventoryRuntime, nats_client: Client, kube: ApiClient
) -> None:
    log = await failures(nats_client, kube, "enormous", gpus=64)

    def explained(failed: list[ModelFailed]) -> bool:
        return any("nodes are available" in f.data.message for f in failed)

    failed = await poll(lambda: log.of(ModelFailed), until=explained)
    assert failed[-1].data.reason == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in failed[-1].data.message
