"""A model no node can take says so in the scheduler's words, over HTTP on the whole
stack: once its pod has waited the inventory's `unschedulable_timeout` (five minutes by
default, a few seconds on this module's own stack), the model is `failed` with the
FailedScheduling message kubesim's scheduler wrote."""

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from jan_models.dev_keys import ensure_dev_key
from jan_models.stack import LocalStack, StackConfig
from tests.e2e.test_day_two import NAMESPACE, cpu_body
from tests.e2e.test_failure_reasons import details
from tests.e2e.test_walkthrough import MODELS
from tests.waiting import eventually, poll

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
ORG_ID = 321


@pytest.fixture(scope="module")
def quick_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("unschedulable-stack"),
        ready_delay=0.2,
        extra_env={"JAN_MODELS_INVENTORY_UNSCHEDULABLE_TIMEOUT_SECONDS": "3"},
    ).with_free_ports()
    with LocalStack(config).running() as running:
        yield running


@pytest.fixture
async def quick_api(quick_stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    key = "jm_e2e_" + secrets.token_urlsafe(24)
    await ensure_dev_key(quick_stack.mongodb_url, organization_id=ORG_ID, key=key)
    async with httpx.AsyncClient(
        base_url=quick_stack.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as client:
        yield client


async def test_an_unschedulable_model_shows_what_the_scheduler_said(
    quick_api: httpx.AsyncClient, quick_stack: LocalStack
) -> None:
    """A replica no node has the memory for: the scheduler's FailedScheduling message,
    word for word as kubesim's Event has it, is the reason the details give."""
    name = "unschedulable-memory"
    payload = cpu_body(name)
    payload["requirements"] = {"cpu": "100m", "memory": "4Ti"}
    created = await quick_api.post(MODELS, json=payload)
    assert created.status_code == 201, created.text
    public_id = created.json()["model"]["public_id"]
    said: set[str] = set()

    async with httpx.AsyncClient(base_url=quick_stack.kubesim_url) as kubesim:

        async def scheduler_said() -> bool:
            listed = await kubesim.get(f"/api/v1/namespaces/{NAMESPACE}/events")
            said.update(
                e["message"]
                for e in listed.json()["items"]
                if e["reason"] == "FailedScheduling"
                and e["involvedObject"]["name"].startswith(name)
            )
            return bool(said)

        await eventually(scheduler_said, within=60)
    assert all("Insufficient memory" in message for message in said), said

    def explained(model: dict[str, Any]) -> bool:
        return any(message in (model.get("status_reason") or "") for message in said)

    model = await poll(lambda: details(quick_api, public_id), until=explained, timeout=60)
    assert model["status"] == "failed", model
    assert model["status_reason"].startswith("Unschedulable: "), model
    assert model["ready_replicas"] == 0
    conditions = {c["type"]: c for c in model["conditions"]}
    assert conditions["Progressing"]["status"] == "False"
    assert (await quick_api.delete(f"{MODELS}/{public_id}")).status_code == 204
