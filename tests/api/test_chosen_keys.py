"""Keys an operator chooses (`JAN_MODELS_DEV_API_KEY`) are stored like generated ones."""

from datetime import UTC, datetime

import pytest
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
