"""The broker as production runs it: three nats-server nodes with routes between them and
both streams replicated three ways. One node SIGKILLed in the middle of 200 creates and
started again loses nothing, applies nothing twice, publishes no event twice, and no
service has to be restarted: each reconnects to a node that is still up.
"""

import asyncio
import json
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from jan_models.embedded import EmbeddedNats
from jan_models.stack import LocalStack, StackConfig, service_token
from shared import messaging
from shared.names import COMMANDS_STREAM, EVENTS_PREFIX, EVENTS_STREAM
from tests.faults.conftest import (
    Cluster,
    assert_api_matches_cluster,
    create_all,
    eventually,
    stream_messages,
)
from tests.faults.test_process_faults import all_running, services_ready

pytestmark = [pytest.mark.faults, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("nats-cluster-stack"), ready_delay=0.2, nats_nodes=3
    ).with_free_ports()
    with LocalStack(config).running() as running:
        yield running


async def stream_leader(stack: LocalStack, stream: str) -> tuple[str, list[str]]:
    """The node leading a stream, and the replicas following it (server names)."""
    client = await messaging.connect(stack.nats_url, name="tests")
    try:
        info = await client.jetstream().stream_info(stream)
    finally:
        await client.close()
    assert info.cluster is not None
    assert info.cluster.leader is not None
    return info.cluster.leader, [str(peer.name) for peer in info.cluster.replicas or []]


def node_named(stack: LocalStack, name: str) -> EmbeddedNats:
    return next(node for node in stack.nats_nodes if node.name == name)


async def test_both_streams_are_replicated_on_three_nodes(stack: LocalStack) -> None:
    assert len(stack.nats_nodes) == 3
    assert stack.nats_url.count(",") == 2
    for stream in (COMMANDS_STREAM, EVENTS_STREAM):
        leader, followers = await stream_leader(stack, stream)
        assert {leader, *followers} == {node.name for node in stack.nats_nodes}


def deployment_writes(audit: list[dict[str, object]]) -> Counter[str]:
    """How many times the deployer wrote each Deployment (apply, create or update)."""
    deployer = service_token("deployer")
    return Counter(
        str(entry["name"])
        for entry in audit
        if entry["user"] == deployer
        and entry["resource"] == "deployments"
        and entry["verb"] in ("patch", "create", "update")
        and entry["code"] in (200, 201)
    )


async def test_a_node_killed_during_200_creates_loses_nothing_and_duplicates_nothing(
    stack: LocalStack, api: httpx.AsyncClient, cluster: Cluster, org: int
) -> None:
    control = cluster.control
    start = (await control.get("/_kubesim/audit/log", params={"since": 0})).json()
    since = start[-1]["seq"] if start else 0
    pids = {
        name: service.process.pid for name, service in stack.services.items() if service.process
    }

    names = [f"r3-{i}" for i in range(200)]
    creating = asyncio.create_task(create_all(api, names, parallel=8, outage=True))

    async def some_applied() -> bool:
        return len(await cluster.managed_deployments(org)) >= 20

    await eventually(some_applied, within=90, every=0.1)
    # the node leading the command stream: the loss that forces an election
    leader, _ = await stream_leader(stack, COMMANDS_STREAM)
    victim = node_named(stack, leader)
    victim.kill()
    await asyncio.sleep(3)  # creates keep arriving while the node is down
    await asyncio.to_thread(victim.start, timeout=60)

    public_ids = await creating
    assert len(set(public_ids)) == 200
    await eventually(lambda: all_running(api, public_ids), within=240, every=0.5)
    await assert_api_matches_cluster(api, cluster, org=org, public_ids=public_ids)

    # no service was restarted: each reconnected by itself and answers ready
    assert {
        name: service.process.pid for name, service in stack.services.items() if service.process
    } == pids
    await eventually(lambda: asyncio.to_thread(services_ready, stack), within=30)

    # every Deployment written once by the deployer: no command applied twice
    audit = (await control.get("/_kubesim/audit/log", params={"since": since})).json()
    writes = deployment_writes(audit)
    assert set(writes) == set(names)
    assert {name: n for name, n in writes.items() if n != 1} == {}

    # every lifecycle event of these models published once
    events = await stream_messages(stack.nats_url, EVENTS_STREAM, f"{EVENTS_PREFIX}.{org}.")
    ids = Counter(json.loads(data)["id"] for _, data in events)
    assert {event_id: n for event_id, n in ids.items() if n > 1} == {}
    per_subject = Counter(subject for subject, _ in events)
    running = {s: n for s, n in per_subject.items() if s.endswith(".running")}
    assert len(running) == 200
    assert set(running.values()) == {1}

    # the restarted node caught up: it holds both streams again as a replica
    for stream in (COMMANDS_STREAM, EVENTS_STREAM):
        leader, followers = await stream_leader(stack, stream)
        assert victim.name in {leader, *followers}
