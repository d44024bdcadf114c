"""Keys an operator chooses (`JAN_MODELS_DEV_API_KEY`) are stored like generated ones."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.api.adapters.api_keys import ApiKeys
from shared.database import ensure_indexes
from shared.names import Collection
from shared.records import Document

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def test_chosen_keys_sharing_a_prefix_stay_distinct_and_secret(
    mongo_db: AsyncDatabase[Document],
) -> None:
    await ensure_indexes(mongo_db, (Collection.API_KEYS,))
    keys = ApiKeys(mongo_db)

    await keys.register("jm_dev_same_prefix_one", organization_id=1, name="dev", now=NOW)
    await keys.register("jm_dev_same_prefix_two", organization_id=2, name="dev", now=NOW)
    await keys.register("jm_dev_same_prefix_one", organization_id=1, name="dev", now=NOW)

    one = await keys.authenticate("jm_dev_same_prefix_one")
    two = await keys.authenticate("jm_dev_same_prefix_two")
    assert one is not None
    assert two is not None
    assert (one.organization_id, two.organization_id) == (1, 2)
    assert one.key_id != two.key_id
    listed = await keys.all()
    assert len(listed) == 2
    assert not any("same_prefix" in record.key_id for record in listed)
    assert (
        await mongo_db[Collection.API_KEYS].find_one({"key_hash": {"$regex": "same_prefix"}})
        is None
    )


class CountingReads:
    """The keys collection, counting the documents asked for."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self.reads = 0

    async def find_one(self, *args: Any, **kwargs: Any) -> Document | None:
        self.reads += 1
        return await self.collection.find_one(*args, **kwargs)


async def test_requests_arriving_with_one_key_share_its_lookup(
    mongo_db: AsyncDatabase[Document],
) -> None:
    await ensure_indexes(mongo_db, (Collection.API_KEYS,))
    keys = ApiKeys(mongo_db)  # no cache: every lookup goes to the server
    new = await keys.create(organization_id=5, name="busy", now=NOW)
    counting = CountingReads(mongo_db[Collection.API_KEYS])
    keys._keys = counting  # type: ignore[assignment]  # a counting stand-in

    callers = await asyncio.gather(*(keys.authenticate(new.key) for _ in range(20)))
    assert {caller.organization_id if caller else None for caller in callers} == {5}
    assert counting.reads == 1
    # one that goes away meanwhile takes nobody's answer with it
    leaving = asyncio.ensure_future(keys.authenticate(new.key))
    staying = asyncio.ensure_future(keys.authenticate(new.key))
    await asyncio.sleep(0)
    leaving.cancel()
    assert (await staying) is not None
    assert counting.reads == 2
    # an unknown key is told None, to every request of the round
    assert await asyncio.gather(*(keys.authenticate("jm_unknown") for _ in range(3))) == [None] * 3
    assert counting.reads == 3
