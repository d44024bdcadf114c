"""One leader among replicas through a NATS KV lease, against a real nats-server."""

import asyncio
from contextlib import suppress

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared.leadership import Lease, open_election

pytestmark = pytest.mark.integration
BUCKET = "test_leadership"


def holds(lease: Lease) -> bool:
    return lease.held


@pytest.fixture
async def election(jetstream: JetStreamContext) -> JetStreamContext:
    with suppress(NotFoundError):
        await jetstream.delete_key_value(BUCKET)
    return jetstream


async def test_of_replicas_racing_for_a_free_lease_exactly_one_holds_it(
    election: JetStreamContext,
) -> None:
    kv = await open_election(election, BUCKET, replicas=1)
    leases = [Lease(kv, me=f"r{i}", seconds=10) for i in range(5)]
    won = await asyncio.gather(*(lease.try_hold() for lease in leases))
    assert won.count(True) == 1
    holder = leases[won.index(True)]
    assert holder.held
    assert await holder.try_hold()  # renewing
    assert not any([await lease.try_hold() for lease in leases if lease is not holder])


async def test_a_lease_not_renewed_passes_on_and_a_released_one_at_once(
    election: JetStreamContext,
) -> None:
    kv = await open_election(election, BUCKET, replicas=1)
    now = [1000.0]
    first = Lease(kv, me="first", seconds=6, clock=lambda: now[0])
    second = Lease(kv, me="second", seconds=6, clock=lambda: now[0])
    assert await first.try_hold()
    now[0] += 3
    assert holds(first)
    now[0] += 1.1
    assert not holds(first)  # under a third of the lease left: time to step down
    assert not await second.try_hold()
    now[0] += 2
    assert await second.try_hold()  # the first one's lease ran out (it was killed)
    assert not await first.try_hold()
    await second.release()
    assert await first.try_hold()  # a graceful leave frees it without waiting
