"""One whole stack per module (processes, on disk), and what the fault tests compare.

Every fault test ends by comparing what users were told (the API) with what the cluster
holds (kubesim, read with the admin kubeconfig as `kubectl` would), so the helpers here
read both sides. Waits are bounded polls, never sleeps standing in for a condition.
"""

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import yaml
from nats.js.errors import NotFoundError

from jan_models.dev_keys import ensure_dev_key
from jan_models.stack import LocalStack, StackConfig
from shared import messaging
from shared.labels import MANAGED, MODEL_ID, MODEL_NAME, ORGANIZATION_ID
from shared.names import DEFAULT_NAMESPACE
from tests import waiting
from tests.contract import CONTRACT

MODELS = "/v1/organization/models"
ORG_A = 123
ORG_B = 456


def start_stack(
    tmp_path_factory: pytest.TempPathFactory, extra_env: Mapping[str, str] | None = None
) -> Iterator[LocalStack]:
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("faults-stack"),
        ready_delay=0.2,
        extra_env=dict(extra_env or {}),
    ).with_free_ports()
    with LocalStack(config).running() as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from start_stack(tmp_path_factory)


async def new_key(stack: LocalStack, organization_id: int = ORG_A) -> str:
    key = "jm_" + secrets.token_urlsafe(30)  # unique display prefix: buckets are per key id
    await ensure_dev_key(stack.mongodb_url, organization_id=organization_id, key=key)
    return key


_orgs = itertools.count(1000)


@pytest.fixture
def org() -> int:
    """An organization of the test's own: tests sharing a stack never see each other."""
    return next(_orgs)


@pytest.fixture
async def api(stack: LocalStack, org: int) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the test's organization with a key of its own (rate buckets are per key)."""
    key = await new_key(stack, org)
    async with client_for(stack, key) as client:
        yield client


def client_for(stack: LocalStack, key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.AsyncClient(
        base_url=stack.api_url,
        headers=headers,
        timeout=30,
        limits=httpx.Limits(max_connections=20),
        event_hooks={"response": [CONTRACT.hook]},
    )


@dataclass
class Cluster:
    """kubesim as an administrator sees it: its REST API and its fault controls."""

    http: httpx.AsyncClient
    control: httpx.AsyncClient

    async def managed_deployments(self, org: int) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"/apis/apps/v1/namespaces/{DEFAULT_NAMESPACE}/deployments",
            params={"labelSelector": f"{MANAGED}=true,{ORGANIZATION_ID}={org}"},
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def deployments_by_model(self, org: int) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for item in await self.managed_deployments(org):
            public_id = item["metadata"]["labels"][MODEL_ID]
            found.setdefault(public_id, []).append(item)
        return found

    async def model_deployments(self) -> list[dict[str, Any]]:
        """Every Deployment in any namespace that names a model, managed or not."""
        response = await self.http.get(
            "/apis/apps/v1/deployments", params={"labelSelector": MODEL_NAME}
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def delete_deployment(self, name: str, *, missing_ok: bool = False) -> None:
        response = await self.http.delete(
            f"/apis/apps/v1/namespaces/{DEFAULT_NAMESPACE}/deployments/{name}"
        )
        if not (missing_ok and response.status_code == 404):
            response.raise_for_status()

    async def set_faults(self, **faults: Any) -> None:
        (await self.control.post("/_kubesim/faults", json=faults)).raise_for_status()

    async def clear_faults(self) -> None:
        (await self.control.delete("/_kubesim/faults")).raise_for_status()

    async def post(self, path: str) -> dict[str, Any]:
        response = await self.control.post(path)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
async def cluster(stack: LocalStack) -> AsyncIterator[Cluster]:
    config = yaml.safe_load(Path(stack.kubeconfig_path).read_text())
    server = config["clusters"][0]["cluster"]["server"]
    token = config["users"][0]["user"]["token"]
    async with (
        httpx.AsyncClient(
            base_url=server, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http,
        httpx.AsyncClient(base_url=stack.kubesim_url, timeout=10) as control,
    ):
        sim = Cluster(http=http, control=control)
        try:
            yield sim
        finally:
            await sim.clear_faults()


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 60, every: float = 0.1
) -> None:
    """Like `tests.waiting.eventually`, where a part restarting only means "not yet"."""
    await waiting.eventually(
        check, within=within, every=every, tolerate=(httpx.TransportError, httpx.HTTPStatusError)
    )


#: a Hugging Face token no response, event, log line, document or command may hold in clear
HF_TOKEN = "hf_faults" + secrets.token_hex(16)


def light_body(name: str, **config: Any) -> dict[str, Any]:
    """A model that needs no GPU, so hundreds of them fit the simulated cluster."""
    return {
        "name": name,
        "display_name": name,
        "deployment_config": {
            "image": "vllm/vllm-openai:v0.10.2",
            "command": ["sh"],
            "args": ["-c", f"vllm serve x --served-model-name {name}"],
            "initial_delay_seconds": 1,
            "hugging_face_token": HF_TOKEN,
        }
        | config,
    }


async def statuses(api: httpx.AsyncClient) -> dict[str, str]:
    """Every model of the caller's organization: public id -> status, as the API tells it."""
    found: dict[str, str] = {}
    offset = 0
    while True:
        response = await api.get(MODELS, params={"limit": 1000, "offset": offset})
        response.raise_for_status()
        page = response.json()["models"]
        found |= {m["public_id"]: m["status"] for m in page}
        offset += len(page)
        if not page or offset >= response.json()["total"]:
            return found


UNAVAILABLE_RETRIES = 5


async def create_all(
    api: httpx.AsyncClient, names: list[str], *, parallel: int = 16, outage: bool = False
) -> list[str]:
    """POST every body with bounded concurrency; the public ids of the 201s, in order.

    `outage`: a part of the stack is being taken down meanwhile, so a create may be told
    503 with `Retry-After` (refused before anything is stored); it is sent again after
    that wait, as a client does, a few times at most."""
    gate = asyncio.Semaphore(parallel)

    async def one(name: str) -> str:
        for _ in range(UNAVAILABLE_RETRIES if outage else 1):
            async with gate:
                response = await api.post(MODELS, json=light_body(name))
            if not (outage and response.status_code == 503):
                break
            await asyncio.sleep(float(response.headers["Retry-After"]))
        assert response.status_code == 201, response.text
        public_id: str = response.json()["model"]["public_id"]
        return public_id

    return list(await asyncio.gather(*(one(name) for name in names)))


async def assert_api_matches_cluster(
    api: httpx.AsyncClient, cluster: Cluster, *, org: int, public_ids: list[str]
) -> None:
    """Every model the API acknowledged runs, once, and the cluster holds nothing else."""
    told = await statuses(api)
    held = await cluster.deployments_by_model(org)
    assert set(public_ids) <= set(told)
    assert {pid: s for pid, s in told.items() if s != "running"} == {}
    assert set(held) == set(told), "the cluster and the API disagree on which models exist"
    duplicated = {pid: len(items) for pid, items in held.items() if len(items) != 1}
    assert duplicated == {}


async def stream_messages(
    nats_url: str, stream: str, subject_prefix: str = ""
) -> list[tuple[str, bytes]]:
    """(subject, payload) of every message a stream still holds, read by sequence, so
    nothing is consumed (a work-queue stream allows no second consumer)."""
    client = await nats.connect(messaging.server_urls(nats_url))
    try:
        js = client.jetstream()
        state = (await js.stream_info(stream)).state
        found: list[tuple[str, bytes]] = []
        for seq in range(state.first_seq, state.last_seq + 1):
            try:
                message = await js.get_msg(stream, seq)
            except NotFoundError:
                continue  # acknowledged and removed meanwhile
            if message.subject and message.subject.startswith(subject_prefix):
                found.append((message.subject, message.data or b""))
        return found
    finally:
        await client.close()
