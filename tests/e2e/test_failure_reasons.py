"""A failed model shows why in Kubernetes' own words, through the whole stack over HTTP:
the crashed container's last log lines, the image pull's answer, the scheduler's verdict;
and its conditions and history say the same."""

from typing import Any

import httpx
import pytest

from tests.e2e.test_walkthrough import MODELS, body, follow_status
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


async def details(api: httpx.AsyncClient, public_id: str) -> dict[str, Any]:
    model: dict[str, Any] = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
    return model


async def failed_with(api: httpx.AsyncClient, name: str, image: str, words: str) -> dict[str, Any]:
    created = await api.post(MODELS, json=body(name, image=image))
    assert created.status_code == 201, created.text
    public_id = created.json()["model"]["public_id"]
    assert (await follow_status(api, public_id, until="failed", within=90))[-1] == "failed"

    async def explained() -> bool:
        return words in ((await details(api, public_id)).get("status_reason") or "")

    await eventually(explained, within=30)
    return await details(api, public_id)


async def test_a_crash_looping_model_shows_its_containers_last_words(
    api: httpx.AsyncClient,
) -> None:
    model = await failed_with(
        api, "crashes-oom", "vllm/vllm-openai:crashloop", "torch.OutOfMemoryError"
    )

    assert model["status_reason"].startswith("CrashLoopBackOff: ")
    assert model["ready_replicas"] == 0
    conditions = {c["type"]: c for c in model["conditions"]}
    assert conditions["Degraded"]["status"] == "True"
    assert "torch.OutOfMemoryError" in conditions["Degraded"]["message"]
    assert conditions["Available"]["status"] == "False"
    assert model["observed_generation"] == 1
    history = (await api.get(f"{MODELS}/{model['public_id']}/events")).json()
    types = [e["type"] for e in history["events"]]
    assert types[:2] == ["ai.jan.model.accepted", "ai.jan.model.applied"]
    assert "ai.jan.model.failed" in types
    assert (await api.delete(f"{MODELS}/{model['public_id']}")).status_code == 204


async def test_an_unpullable_image_shows_what_the_pull_answered(api: httpx.AsyncClient) -> None:
    image = "example.invalid/does-not-exist:2"
    model = await failed_with(api, "unpullable-2", image, f'Failed to pull image "{image}"')

    conditions = {c["type"]: c for c in model["conditions"]}
    assert conditions["Progressing"]["status"] == "False"
    assert "not found" in conditions["Progressing"]["message"]
    assert (await api.delete(f"{MODELS}/{model['public_id']}")).status_code == 204
