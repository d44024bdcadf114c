"""A bulk write in one commit, on the real MongoDB-compatible server: all or nothing."""

import pytest
from pymongo import IndexModel, ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from shared.records import Document
from shared.transactions import bulk_write_in_one_commit

pytestmark = pytest.mark.integration


async def test_every_write_is_stored_and_counted(mongo_db: AsyncDatabase[Document]) -> None:
    items = mongo_db["items"]
    await items.insert_many([{"_id": i, "n": 0} for i in range(3)])

    result = await bulk_write_in_one_commit(
        items,
        [
            UpdateOne({"_id": 0, "n": 0}, {"$set": {"n": 1}}),
            UpdateOne({"_id": 1, "n": 5}, {"$set": {"n": 1}}),  # its guard does not hold
            ReplaceOne({"_id": 7}, {"n": 7}, upsert=True),
        ],
    )

    assert (result.matched_count, result.upserted_count) == (1, 1)
    assert {d["_id"]: d["n"] async for d in items.find({})} == {0: 1, 1: 0, 2: 0, 7: 7}


async def test_a_failing_write_stores_none_of_them(mongo_db: AsyncDatabase[Document]) -> None:
    items = mongo_db["items"]
    await items.create_indexes([IndexModel("key", unique=True)])
    await items.insert_many([{"_id": 1, "key": "taken"}, {"_id": 2, "key": "mine"}])

    with pytest.raises(PyMongoError):
        await bulk_write_in_one_commit(
            items,
            [
                UpdateOne({"_id": 1}, {"$set": {"n": 1}}),
                UpdateOne({"_id": 2}, {"$set": {"key": "taken"}}),  # a duplicate key
                ReplaceOne({"_id": 3}, {"key": "free"}, upsert=True),
            ],
        )

    assert [d async for d in items.find({}).sort("_id")] == [
        {"_id": 1, "key": "taken"},
        {"_id": 2, "key": "mine"},
    ]
