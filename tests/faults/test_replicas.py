"""Two replicas of the api, of the deployer and of the inventory behave as one.

200 creates through both api replicas, 100 of the models deleted while their creates are
still being carried out, one api replica and one deployer replica SIGKILLed in the middle
and started again: every model converges (the kept ones run with one Deployment each, the
deleted ones leave nothing), no model's commands are applied out of order (read from
kubesim's ordered audit log: nothing of a model is written after its delete), and no
event is published twice. Then the leading inventory is SIGKILLed during creates and
deletes: the other takes the lease over, every model's state is still told (once), and
its projection equals the cluster.
"""

import asyncio
import json
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from pymongo import AsyncMongoClient

from jan_models.stack import ChildProcess, LocalStack, StackConfig, service_token
from shared.names import DEFAULT_DATABASE as DATABASE
from shared.names import EVENTS_PREFIX, EVENTS_STREAM, Collection
from shared.records import Document
from tests.faults.conftest import (
    MODELS,
    Cluster,
    assert_api_matches_cluster,
    client_for,
    create_all,
    eventually,
    new_key,
    statuses,
    stream_messages,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(480)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("replicas-stack"),
        ready_delay=0.2,
        replicas={"api": 2, "deployer": 2, "inventory": 2},
    ).with_free_ports()
    with LocalStack(config).running() as running:
        yield running


def model_writes_after_delete(audit: list[dict[str, object]]) -> dict[str, list[str]]:
    """Per Deployment name: the deployer's writes to it that came after it was deleted."""
    deployer = service_token("deployer")
    deleted: set[str] = set()
    late: dict[str, list[str]] = {}
    for entry in audit:
        if entry["user"] != deployer or entry["resource"] != "deployments":
            continue
        if entry["code"] not in (200, 201, 202):
            continue
        name, verb = str(entry["name"]), str(entry["verb"])
        if verb == "delete":
            deleted.add(name)
        elif verb in ("patch", "create", "update") and name in deleted:
            late.setdefault(name, []).append(verb)
    return late


async def delete_all(http: httpx.AsyncClient, model_ids: list[str]) -> None:
    """DELETE each model, eight at a time, each accepted."""
    gate = asyncio.Semaphore(8)

    async def delete(model_id: str) -> None:
        async with gate:
            response = await http.delete(f"{MODELS}/{model_id}")
        assert response.status_code in (202, 204), response.text

    await asyncio.gather(*(delete(model_id) for model_id in model_ids))


async def restart(process: ChildProcess) -> None:
    process.kill()
    await asyncio.sleep(1)
    await asyncio.to_thread(lambda: process.start().wait_ready(timeout=90))


async def test_two_api_and_two_deployer_replicas_with_one_of_each_killed_converge_in_order(
    stack: LocalStack, cluster: Cluster, org: int
) -> None:
    [(other_api, other_api_url)] = stack.extra_replicas["api"]
    [(other_deployer, _)] = stack.extra_replicas["deployer"]
    key = await new_key(stack, org)
    start = (await cluster.control.get("/_kubesim/audit/log", params={"since": 0})).json()
    since = start[-1]["seq"] if start else 0
    names = [f"rep-{i}" for i in range(200)]
    doomed = set(names[::2])

    async with (
        client_for(stack, key) as first,
        httpx.AsyncClient(
            base_url=other_api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as second,
    ):
        creating = asyncio.gather(
            create_all(first, names[::2], parallel=6), create_all(second, names[1::2], parallel=6)
        )

        async def some_applied() -> bool:
            return len(await cluster.managed_deployments(org)) >= 30

        await eventually(some_applied, within=90, every=0.1)
        killing = asyncio.create_task(restart(stack.services["deployer"]))
        ids_first, ids_second = await creating
        by_name = dict(zip(names[::2], ids_first, strict=True)) | dict(
            zip(names[1::2], ids_second, strict=True)
        )
        # the second api dies with its outbox maybe not yet relayed; the deletes race the
        # creates still on their way to the deployers
        killing_api = asyncio.create_task(restart(other_api))
        await delete_all(first, [by_name[name] for name in sorted(doomed)])
        await asyncio.gather(killing, killing_api)
        assert other_deployer.running

        kept = [by_name[name] for name in names if name not in doomed]

        async def converged() -> bool:
            told = await statuses(first)
            return set(told) == set(kept) and set(told.values()) == {"running"}

        await eventually(converged, within=300, every=1.0)
        await assert_api_matches_cluster(first, cluster, org=org, public_ids=kept)
        for name in sorted(doomed)[:5]:
            assert (await first.get(f"{MODELS}/{by_name[name]}")).status_code == 404

    audit = (await cluster.control.get("/_kubesim/audit/log", params={"since": since})).json()
    assert model_writes_after_delete(audit) == {}, "a create was applied after its delete"

    events = await stream_messages(stack.nats_url, EVENTS_STREAM, f"{EVENTS_PREFIX}.{org}.")
    ids = Counter(json.loads(data)["id"] for _, data in events)
    assert {event_id: n for event_id, n in ids.items() if n > 1} == {}
    # each doomed model's `deleted` once, though its delete may have run twice
    per_subject = Counter(subject for subject, _ in events)
    deleted_events = {s: n for s, n in per_subject.items() if s.endswith(".deleted")}
    assert len(deleted_events) == len(doomed)
    assert set(deleted_events.values()) == {1}


async def leading(url: str) -> bool:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(url)).text
    return "jan_models_inventory_leading 1.0" in text


async def test_the_leading_inventory_killed_mid_flight_hands_over_and_nothing_is_told_twice(
    stack: LocalStack, cluster: Cluster, org: int
) -> None:
    [(other, other_url)] = stack.extra_replicas["inventory"]
    replicas = [
        (stack.services["inventory"], stack.metrics_urls["inventory"]),
        (other, f"{other_url}/metrics"),
    ]
    key = await new_key(stack, org)
    names = [f"lead-{i}" for i in range(80)]
    doomed = set(names[1::2])
    async with client_for(stack, key) as api:
        creating = asyncio.create_task(create_all(api, names, parallel=6))

        async def some_running() -> bool:
            return list((await statuses(api)).values()).count("running") >= 10

        await eventually(some_running, within=90)
        [(leader, _)] = [(p, url) for p, url in replicas if await leading(url)]
        leader.kill()  # SIGKILL: the lease is not released, it runs out
        by_name = dict(zip(names, await creating, strict=True))
        await delete_all(api, [by_name[name] for name in sorted(doomed)])
        kept = [by_name[name] for name in names if name not in doomed]

        async def converged() -> bool:
            told = await statuses(api)
            return set(told) == set(kept) and set(told.values()) == {"running"}

        await eventually(converged, within=240, every=1.0)
        [survivor_url] = [url for p, url in replicas if p is not leader]
        assert await leading(survivor_url)
        await assert_api_matches_cluster(api, cluster, org=org, public_ids=kept)
        await asyncio.to_thread(lambda: leader.start().wait_ready(timeout=90))

    events = await stream_messages(stack.nats_url, EVENTS_STREAM, f"{EVENTS_PREFIX}.{org}.")
    ids = Counter(json.loads(data)["id"] for _, data in events)
    assert {event_id: n for event_id, n in ids.items() if n > 1} == {}
    running = Counter(subject for subject, _ in events if subject.endswith(".running"))
    assert {s: n for s, n in running.items() if n != 1} == {}, "a state was told twice"
    assert len(running) >= len(kept)

    # the survivor's projection is the cluster's (the deleted ones gone, the kept ones there)
    mongo: AsyncMongoClient[Document] = AsyncMongoClient(stack.mongodb_url)
    workloads = mongo[DATABASE][Collection.INVENTORY_WORKLOADS]

    async def projected() -> bool:
        found = workloads.find({"organization_id": org, "managed": True})
        return {doc["public_id"] async for doc in found} == set(kept)

    try:
        await eventually(projected, within=30)
    finally:
        await mongo.close()
