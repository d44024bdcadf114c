"""Parts of the stack killed, restarted or misbehaving under load: nothing acknowledged is
lost, nothing is applied twice, and the API ends up telling what the cluster holds.

One stack serves the whole module; each test works in an organization of its own and
leaves every part running and kubesim without faults.
"""

import asyncio
import time
from datetime import UTC, datetime

import httpx
import pytest

from jan_models.stack import LocalStack
from services.api.adapters.registry import Registry
from services.api.documents import new_model_document
from services.api.identifiers import new_public_id
from services.api.requests import CreateModelRequest
from services.deployer.failures import retry_delay
from services.deployer.settings import DeployerSettings
from shared import database
from shared.names import (
    COMMANDS_STREAM,
    DEFAULT_DATABASE,
    EVENTS_STREAM,
    Collection,
    EventType,
    event_subject,
)
from tests.faults.conftest import (
    HF_TOKEN,
    MODELS,
    Cluster,
    assert_api_matches_cluster,
    create_all,
    eventually,
    light_body,
    statuses,
    stream_messages,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]


async def all_running(api: httpx.AsyncClient, public_ids: list[str]) -> bool:
    told = await statuses(api)
    return all(told.get(pid) == "running" for pid in public_ids)


async def converged(
    api: httpx.AsyncClient, cluster: Cluster, *, org: int, public_ids: list[str], within: float
) -> None:
    await eventually(lambda: all_running(api, public_ids), within=within, every=0.5)
    await assert_api_matches_cluster(api, cluster, org=org, public_ids=public_ids)


def services_ready(stack: LocalStack) -> bool:
    return all(_ready(service.ready_url) for service in stack.services.values())


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


async def test_deployer_killed_with_200_creates_in_flight_applies_each_exactly_once(
    stack: LocalStack, api: httpx.AsyncClient, cluster: Cluster, org: int
) -> None:
    creating = asyncio.create_task(create_all(api, [f"burst-{i}" for i in range(200)]))

    async def some_applied() -> bool:
        return len(await cluster.managed_deployments(org)) >= 10

    await eventually(some_applied, within=60, every=0.05)
    stack.services["deployer"].kill()
    public_ids = await creating
    assert len(set(public_ids)) == 200
    # while the deployer is down its commands wait in JetStream, the token only encrypted
    queued = await stream_messages(stack.nats_url, COMMANDS_STREAM)
    assert queued, "the killed deployer left no command waiting"
    assert not [subject for subject, data in queued if HF_TOKEN.encode() in data]
    await asyncio.to_thread(stack.services["deployer"].start().wait_ready, timeout=90)

    await converged(api, cluster, org=org, public_ids=public_ids, within=150)
    deployments = [d for ds in (await cluster.deployments_by_model(org)).values() for d in ds]
    assert {d["metadata"].get("generation") for d in deployments} == {1}, (
        "a redelivered create changed a Deployment it had already applied"
    )


async def test_nats_killed_and_restarted_mid_run_loses_no_command_or_event(
    stack: LocalStack, api: httpx.AsyncClient, cluster: Cluster, org: int
) -> None:
    before = await create_all(api, [f"nats-before-{i}" for i in range(10)])
    await asyncio.to_thread(stack.restart_server, stack.nats, kill=True)
    await eventually(lambda: asyncio.to_thread(services_ready, stack), within=60)
    after = await create_all(api, [f"nats-after-{i}" for i in range(10)])

    await converged(api, cluster, org=org, public_ids=before + after, within=90)


async def test_mongodb_restarted_loses_no_acknowledged_create(
    stack: LocalStack, api: httpx.AsyncClient, cluster: Cluster, org: int
) -> None:
    acknowledged: list[str] = []
    refused: list[int] = []
    assert stack.mongo is not None

    async def keep_creating() -> None:
        for i in range(40):
            response = await api.post(MODELS, json=light_body(f"mongo-{i}"))
            if response.status_code == 201:
                acknowledged.append(response.json()["model"]["public_id"])
            else:
                refused.append(response.status_code)
                assert response.json().keys() == {"error"}
            await asyncio.sleep(0.05)

    creating = asyncio.create_task(keep_creating())
    await eventually(lambda: asyncio.sleep(0, len(acknowledged) >= 5), within=30)
    await asyncio.to_thread(stack.restart_server, stack.mongo, kill=True)
    await creating
    await eventually(lambda: asyncio.to_thread(services_ready, stack), within=60)

    assert all(code == 503 for code in refused), refused
    await converged(api, cluster, org=org, public_ids=acknowledged, within=90)


def longest_retry_wait() -> float:
    """How long the deployer may wait between a command's first delivery and its last,
    retrying with its own backoff (the stack runs it with the settings' defaults)."""
    settings = DeployerSettings()
    return sum(
        retry_delay(
            attempt=attempt, base=settings.deployer_retry_base, ceiling=settings.deployer_retry_max
        )
        for attempt in range(1, settings.deployer_max_attempts)
    )


@pytest.mark.timeout(longest_retry_wait() + 150)  # past its own wait, so a miss says why
async def test_every_command_converges_while_kubesim_fails_a_tenth_of_requests(
    api: httpx.AsyncClient, cluster: Cluster, org: int, stack: LocalStack
) -> None:
    """Each attempt at a create writes several objects, so about half of them meet an
    error, and a model can draw eight or nine failures in a row (about 0.3% each, a few
    percent of runs for 20 models): its backoff then reaches the 30 s ceiling, and the
    test waits for as long as the deployer may retry (181.5 s at the defaults) before it
    calls a model lost."""
    await cluster.set_faults(latency=0.02, error_rate=0.1, error_codes=[500, 429])
    public_ids = await create_all(api, [f"flaky-{i}" for i in range(20)])
    doomed = public_ids[:5]
    for public_id in doomed:
        assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204

    async def settled() -> bool:
        told = await statuses(api)
        return set(told) == set(public_ids[5:]) and set(told.values()) == {"running"}

    try:
        await eventually(settled, within=longest_retry_wait() + 60, every=0.5)
    except AssertionError as exc:
        told, stored = await statuses(api), await registry_statuses(stack, public_ids)
        apart = {
            i: (told.get(i), stored.get(i)) for i in public_ids if told.get(i) != stored.get(i)
        }
        raise AssertionError(f"told {told}; (told, stored) where they differ: {apart}") from exc
    await cluster.clear_faults()
    await assert_api_matches_cluster(api, cluster, org=org, public_ids=public_ids[5:])


async def registry_statuses(stack: LocalStack, public_ids: list[str]) -> dict[str, str]:
    """What MongoDB holds, beside what the API tells (which reads its registry cache)."""
    client = database.connect(stack.mongodb_url, app_name="tests")
    try:
        models = client[DEFAULT_DATABASE][Collection.MODELS]
        cursor = models.find({"public_id": {"$in": public_ids}}, {"public_id": 1, "status": 1})
        return {d["public_id"]: d["status"] async for d in cursor}
    finally:
        await client.close()


async def test_inventory_equals_the_cluster_after_cut_and_expired_watches_under_churn(
    api: httpx.AsyncClient, cluster: Cluster, org: int
) -> None:
    churn = asyncio.create_task(create_all(api, [f"churn-{i}" for i in range(12)], parallel=2))
    while not churn.done():
        await cluster.post("/_kubesim/cut-watches")
        await cluster.post("/_kubesim/expire-next-watch")
        await asyncio.sleep(0.2)
    public_ids = await churn
    for public_id in public_ids[:4]:
        assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204
    await cluster.post("/_kubesim/expire-next-watch")
    await cluster.post("/_kubesim/cut-watches")

    async def inventory_equals_cluster() -> bool:
        listed = (await api.get(f"{MODELS}/all")).json()["models"]
        seen = {(m["namespace"], m["name"], m["replicas"]) for m in listed}
        held = {
            (d["metadata"]["namespace"], d["metadata"]["name"], d["spec"].get("replicas", 1))
            for d in await cluster.model_deployments()
        }
        return seen == held and len(await statuses(api)) == 8

    await eventually(inventory_equals_cluster, within=60, every=0.5)
    await converged(api, cluster, org=org, public_ids=public_ids[4:], within=60)


async def events_of(stack: LocalStack, org: int, name: str, kind: EventType) -> int:
    subject = event_subject(org, name, kind)
    return sum(1 for s, _ in await stream_messages(stack.nats_url, EVENTS_STREAM) if s == subject)


async def test_a_deployment_deleted_by_hand_is_drift_and_is_repaired(
    stack: LocalStack, api: httpx.AsyncClient, cluster: Cluster, org: int
) -> None:
    [public_id] = await create_all(api, ["drift-victim"])
    await converged(api, cluster, org=org, public_ids=[public_id], within=60)
    [original] = (await cluster.deployments_by_model(org))[public_id]

    await cluster.delete_deployment("drift-victim")

    async def repaired() -> bool:
        again = (await cluster.deployments_by_model(org)).get(public_id, [])
        return (
            len(again) == 1
            and again[0]["metadata"]["uid"] != original["metadata"]["uid"]
            and await events_of(stack, org, "drift-victim", EventType.REPAIRED) == 1
        )

    await eventually(repaired, within=60, every=0.3)
    assert await events_of(stack, org, "drift-victim", EventType.DRIFTED) == 1
    await converged(api, cluster, org=org, public_ids=[public_id], within=60)


async def test_a_model_being_deleted_is_not_resurrected_by_drift(
    stack: LocalStack, api: httpx.AsyncClient, cluster: Cluster, org: int
) -> None:
    [public_id] = await create_all(api, ["drift-deleted"])
    await converged(api, cluster, org=org, public_ids=[public_id], within=60)

    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204
    await cluster.delete_deployment("drift-deleted", missing_ok=True)  # the deployer may win

    async def gone() -> bool:
        return (await api.get(f"{MODELS}/{public_id}")).status_code == 404

    await eventually(gone, within=60)
    quiet_until = time.monotonic() + 4  # twice the inventory's drift grace
    while time.monotonic() < quiet_until:
        assert await cluster.managed_deployments(org) == []
        await asyncio.sleep(0.25)
    assert await events_of(stack, org, "drift-deleted", EventType.REPAIRED) == 0
    assert await statuses(api) == {}


async def test_a_command_stored_but_never_published_is_delivered_after_the_api_restarts(
    stack: LocalStack, api: httpx.AsyncClient, cluster: Cluster, org: int
) -> None:
    """The api died between its insert and its publish: the document, with its pending
    outbox entry, is written as the api writes it while no api runs."""
    await asyncio.to_thread(stack.services["api"].stop)
    client = database.connect(stack.mongodb_url, app_name="faults")
    try:
        registry = Registry(client[DEFAULT_DATABASE])
        now = datetime.now(UTC)
        request = CreateModelRequest.model_validate(light_body("orphaned-outbox"))
        document = new_model_document(
            request,
            model_id=await registry.next_id(),
            public_id=new_public_id(),
            organization_id=org,
            hf_token_encrypted=None,
            now=now,
            due_at=now,
        )
        await registry.insert(document)
    finally:
        await client.close()
    await asyncio.to_thread(stack.services["api"].start().wait_ready, timeout=90)

    await converged(api, cluster, org=org, public_ids=[document["public_id"]], within=60)
