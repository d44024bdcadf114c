"""The api parses an inventory reply once per distinct content, never serves a stale one."""

import asyncio

import nats
import orjson
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.api.adapters.inventory import Inventory
from shared.names import MODELS_QUERY_SUBJECT, STATUS_QUERY_SUBJECT
from shared.queries import ModelsReply, StatusReply, WorkloadEntry
from tests.api.conftest import FakeInventory, cluster_status

pytestmark = pytest.mark.integration

QUEUE = "inventory"  # the inventory replicas' queue group


async def test_an_unchanged_reply_is_reused_and_a_changed_one_is_read(
    nats_client: Client, inventory: FakeInventory
) -> None:
    client = Inventory(nats_client, timeout=2.0, status_cache_seconds=0.0)

    first = await client.status()
    again = await client.status()
    inventory.status = StatusReply(connected=True, cluster_status=cluster_status(aibrix_ok=False))
    changed = await client.status()

    assert again is first
    assert changed is not first
    assert changed.cluster_status.aibrix_ok is False
    rendered = orjson.loads(orjson.dumps({"cluster_status": client.cluster_status_json(changed)}))
    assert rendered["cluster_status"] == changed.cluster_status.model_dump(mode="json")


async def test_a_held_status_is_confirmed_by_its_version_not_sent_again(
    nats_client: Client, inventory: FakeInventory
) -> None:
    inventory.status = StatusReply(connected=True, cluster_status=cluster_status(), version="v-1")
    client = Inventory(nats_client, timeout=2.0, status_cache_seconds=0.0)

    first = await client.status()
    again = await client.status()
    inventory.status = StatusReply(
        connected=True, cluster_status=cluster_status(aibrix_ok=False), version="v-2"
    )
    changed = await client.status()

    assert again is first
    assert changed.cluster_status.aibrix_ok is False
    assert inventory.sent == ["StatusReply", "Unchanged", "StatusReply"]


async def test_an_admission_reuses_a_status_asked_within_its_age_and_asks_after_it(
    nats_client: Client, inventory: FakeInventory
) -> None:
    """`max_age`: the admissions of a busy second share a few status replies instead of
    asking one each (`ADMISSION_STATUS_AGE`); past the age the inventory is asked again."""
    inventory.status = StatusReply(connected=True, cluster_status=cluster_status(), version="v-1")
    client = Inventory(nats_client, timeout=2.0, status_cache_seconds=0.0)

    first = await client.status(max_age=0.3)
    inventory.status = StatusReply(
        connected=True, cluster_status=cluster_status(aibrix_ok=False), version="v-2"
    )
    within = [await client.status(max_age=0.3) for _ in range(5)]
    await asyncio.sleep(0.35)
    after = await client.status(max_age=0.3)
    fresh = await client.status()

    assert all(reply is first for reply in within)
    assert after.cluster_status.aibrix_ok is False
    assert inventory.sent == ["StatusReply", "StatusReply", "Unchanged"]
    assert fresh is after


async def test_a_create_reuses_a_status_for_the_cache_age_and_a_fresh_ask_never(
    nats_client: Client, inventory: FakeInventory
) -> None:
    """`fresh=False` (the create's early checks) keeps its meaning beside `max_age`."""
    inventory.status = StatusReply(connected=True, cluster_status=cluster_status(), version="v-1")
    client = Inventory(nats_client, timeout=2.0, status_cache_seconds=0.3)

    first = await client.status(fresh=False)
    assert await client.status(fresh=False) is first
    assert await client.status(fresh=False, max_age=0.0) is first  # the cache age rules
    await client.status()  # a fresh ask goes out whatever the cache holds
    assert inventory.sent == ["StatusReply", "Unchanged"]
    await asyncio.sleep(0.35)
    await client.status(fresh=False)
    assert inventory.sent == ["StatusReply", "Unchanged", "Unchanged"]


def workloads(*names: str) -> list[WorkloadEntry]:
    return [
        WorkloadEntry(name=n, namespace="default", is_managed=False, status="Running", replicas=1)
        for n in names
    ]


async def test_the_models_list_is_read_again_when_it_changes_between_pages(
    nats_client: Client, inventory: FakeInventory
) -> None:
    inventory.models = ModelsReply(models=workloads("a", "b", "c"), total=3, version="m-1")
    inventory.models_page_size = 2
    client = Inventory(nats_client, timeout=2.0, status_cache_seconds=0.0)

    def change_once(fake: FakeInventory) -> None:
        fake.after_models_page = None
        fake.models = ModelsReply(models=workloads("a", "c", "d"), total=3, version="m-2")

    inventory.after_models_page = change_once
    entries, identity = await client.models()

    # Page 1 of m-1 then page 2 of m-2 would mix two lists ("a", "b", "d"): never served.
    assert [e.name for e in entries] == ["a", "c", "d"]
    assert identity == "m-2"
    inventory.sent.clear()
    again, same = await client.models()
    assert (again, same) == (entries, "m-2")
    assert inventory.sent == ["StatusReply", "Unchanged"]  # is it synced, then the list


async def test_a_query_taken_by_a_replica_killed_with_it_is_asked_again_in_time(
    nats_url: str, nats_client: Client
) -> None:
    """A SIGKILLed inventory replica takes the queries NATS already handed it to its grave
    (the queue group gives each to one replica): each is asked again within the same
    deadline, and the replica left answers it, instead of a 503."""
    live = FakeInventory()
    doomed = await nats.connect(nats_url)
    taken: list[bytes] = []

    async def killed_holding_it(msg: Msg) -> None:
        taken.append(msg.data)
        live_subscription.append(
            await nats_client.subscribe(STATUS_QUERY_SUBJECT, queue=QUEUE, cb=live.on_status)
        )
        await nats_client.flush()
        await doomed.close()  # gone without answering, its subscription with it

    live_subscription: list[Subscription] = []
    await doomed.subscribe(STATUS_QUERY_SUBJECT, queue=QUEUE, cb=killed_holding_it)
    await doomed.flush()
    client = Inventory(nats_client, timeout=2.0, status_cache_seconds=0.0)
    try:
        reply = await client.status()
    finally:
        for subscription in live_subscription:
            await subscription.unsubscribe()
        await doomed.close()
    assert len(taken) == 1
    assert live.sent == ["StatusReply"]
    assert reply.connected


async def test_a_replica_slower_than_half_the_deadline_is_still_heard(
    nats_client: Client,
) -> None:
    """The second ask does not cancel the first: a replica that takes 0.6 of the deadline
    to answer (the work itself slow, not a queue) answers the first ask in time."""
    live = FakeInventory()

    async def slow(msg: Msg) -> None:
        await asyncio.sleep(0.6)
        await live.on_status(msg)

    subscription = await nats_client.subscribe(STATUS_QUERY_SUBJECT, queue=QUEUE, cb=slow)
    client = Inventory(nats_client, timeout=1.0, status_cache_seconds=0.0)
    try:
        reply = await client.status()
    finally:
        await subscription.unsubscribe()
    assert reply.connected


async def test_a_lists_pages_come_from_the_replica_that_answered_its_first(
    nats_client: Client,
) -> None:
    """Two replicas number their versions apart: pages asked of either at random would
    never agree (a list of ten pages would be a 503 nearly every time)."""
    status = FakeInventory()
    subscriptions = [await nats_client.subscribe(STATUS_QUERY_SUBJECT, cb=status.on_status)]
    replicas = [FakeInventory(pages_subject=f"{MODELS_QUERY_SUBJECT}.{name}") for name in "ab"]
    for name, replica in zip("ab", replicas, strict=True):
        replica.models = ModelsReply(models=workloads(*"cdefghijkl"), total=10, version=name)
        replica.models_page_size = 1
        assert replica.pages_subject is not None
        subscriptions += [
            await nats_client.subscribe(MODELS_QUERY_SUBJECT, queue=QUEUE, cb=replica.on_models),
            await nats_client.subscribe(replica.pages_subject, cb=replica.on_models),
        ]
    try:
        for _ in range(6):
            client = Inventory(nats_client, timeout=2.0, status_cache_seconds=0.0)
            entries, identity = await client.models()
            assert [e.name for e in entries] == list("cdefghijkl")
            assert identity in ("a", "b")
    finally:
        for subscription in subscriptions:
            await subscription.unsubscribe()
    # every list a replica began, it finished: ten pages each, none asked elsewhere
    assert [len(replica.sent) % 10 for replica in replicas] == [0, 0]
    assert sum(len(replica.sent) for replica in replicas) == 60
