"""Integer ids come from blocks reserved with one counter write: unique, even across replicas."""

import asyncio

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.api.adapters.registry import Registry
from shared.names import Collection
from shared.records import Document

pytestmark = pytest.mark.integration


async def test_ids_are_unique_across_registries_and_one_write_serves_a_block(
    mongo_db: AsyncDatabase[Document],
) -> None:
    first, second = Registry(mongo_db), Registry(mongo_db)

    ids = await asyncio.gather(*(r.next_id() for r in (first, second) for _ in range(60)))

    assert len(set(ids)) == 120
    assert min(ids) == 1
    counter = await mongo_db[Collection.COUNTERS].find_one({})
    assert counter is not None
    assert counter["seq"] == 200  # two blocks of 50 each for both registries
