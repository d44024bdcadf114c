"""The registry cache follows the models collection through a change stream, and stays secret-free."""

import asyncio
import time
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.api.adapters.admissions import Admissions
from services.api.adapters.registry import Registry
from services.api.adapters.registry_cache import RegistryCache
from shared.names import Collection
from shared.records import Document

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 1, tzinfo=UTC)
GRACE = timedelta(seconds=60)


def model(model_id: int, *, organization_id: int = 1) -> Document:
    return {
        "id": model_id,
        "public_id": f"mdl_{model_id:012d}",
        "organization_id": organization_id,
        "name": f"m{model_id}",
        "namespace": "jan-models",
        "status": "creating",
        "created_at": NOW,
        "deployment_config": {"image": "vllm"},
        "hf_token_encrypted": "gAAAA-ciphertext",
        "outbox": {"msg_id": "x", "due_at": NOW},
    }


async def until(condition: object, *, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the cache did not catch up"
        await asyncio.sleep(0.02)


async def test_the_view_loads_then_follows_inserts_updates_and_deletes(
    mongo_db: AsyncDatabase[Document],
) -> None:
    models = mongo_db[Collection.MODELS]
    await models.insert_many([model(1), model(2, organization_id=2), model(3)])
    cache = RegistryCache(models)
    task = asyncio.create_task(cache.run())
    try:
        await until(lambda: cache.ready)
        assert [m.id for m in cache.page(1, limit=10, offset=0)[0]] == [1, 3]

        await models.insert_one(model(4))
        await models.update_one({"id": 1}, {"$set": {"status": "running"}})
        await models.delete_one({"id": 3})
        await until(
            lambda: (
                cache.page(1, limit=10, offset=0)[1] == 2
                and getattr(cache.get(1), "status", None) == "running"
            )
        )

        page, total = cache.page(1, limit=1, offset=1)
        assert ([m.id for m in page], total) == ([4], 2)
        assert cache.get("mdl_000000000003") is None
        assert cache.own(1, ["mdl_000000000001", "mdl_000000000002"]).keys() == {"mdl_000000000001"}
        for public_id in ("mdl_000000000001", "mdl_000000000004"):
            stored = cache.get(public_id)
            assert stored is not None
            held = {field.name for field in fields(stored) if getattr(stored, field.name)}
            assert not {"hf_token_encrypted", "outbox", "deployment_config", "_id"} & held
        # The deployment config apart, as bytes, followed like the rest and gone with the model
        assert cache.deployment_config("mdl_000000000001") == {"image": "vllm"}
        assert cache.deployment_config("mdl_000000000003") is None
        await models.update_one({"id": 4}, {"$set": {"deployment_config.image": "vllm:2"}})
        await until(
            lambda: (cache.deployment_config("mdl_000000000004") or {}).get("image") == "vllm:2"
        )
    finally:
        cache.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_dropped_collection_rebuilds_the_view(mongo_db: AsyncDatabase[Document]) -> None:
    models = mongo_db[Collection.MODELS]
    await models.insert_one(model(1))
    cache = RegistryCache(models)
    task = asyncio.create_task(cache.run())
    try:
        await until(lambda: cache.ready)
        await models.drop()
        await models.insert_one(model(7))
        await until(
            lambda: cache.ready and cache.get(7) is not None and cache.get(1) is None, within=15
        )
    finally:
        cache.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_view_knows_which_commands_wait_in_the_outbox_and_since_when(
    mongo_db: AsyncDatabase[Document],
) -> None:
    models = mongo_db[Collection.MODELS]
    issued = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    waiting = model(1) | {"outbox": {"msg_id": "x", "command": {"issued_at": issued.isoformat()}}}
    published = {key: value for key, value in model(2).items() if key != "outbox"}
    await models.insert_many([waiting, published])
    cache = RegistryCache(models)
    task = asyncio.create_task(cache.run())
    try:
        await until(lambda: cache.ready)
        assert cache.pending_since == {"mdl_000000000001": issued}
        await models.update_one({"id": 1}, {"$unset": {"outbox": ""}})
        await until(lambda: not cache.pending_since)
        later = issued + timedelta(minutes=1)
        await models.update_one(
            {"id": 2}, {"$set": {"outbox": {"msg_id": "y", "command": {"issued_at": later}}}}
        )
        await until(lambda: cache.pending_since == {"mdl_000000000002": later})
    finally:
        cache.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_a_secret_named_entry_an_older_version_stored_is_kept_by_name_only() -> None:
    cache = RegistryCache(None)  # type: ignore[arg-type]  # put() reads no collection
    in_clear = "hf_in_clear_" + "k" * 16
    config = {
        "image": "vllm",
        "extra_env": [{"name": "HF_TOKEN", "value": in_clear}, {"name": "LOG", "value": "1"}],
        "secret_env_names": ["API_KEY"],
    }
    cache.put(model(1) | {"deployment_config": config})

    kept = cache.deployment_config("mdl_000000000001")
    assert kept == {
        "image": "vllm",
        "extra_env": [{"name": "LOG", "value": "1"}],
        "secret_env_names": ["API_KEY", "HF_TOKEN"],
    }
    assert in_clear.encode() not in b"".join(cache._configs.values())


async def test_reads_from_mongodb_and_from_the_cache_give_the_same_records(
    mongo_db: AsyncDatabase[Document],
) -> None:
    models = mongo_db[Collection.MODELS]
    stored = model(1) | {"display_name": "One", "description": "d", "model_type": "chat"}
    await models.insert_many([stored, model(2)])
    cache = RegistryCache(models)
    task = asyncio.create_task(cache.run())
    try:
        await until(lambda: cache.ready)
        cached, direct = Registry(mongo_db, cache=cache), Registry(mongo_db)
        for registry in (cached, direct):
            assert await registry.get(2, "mdl_000000000001") is None  # not theirs
        for read in ("get", "details"):
            from_cache = await getattr(cached, read)(1, "mdl_000000000001")
            assert from_cache is not None
            assert from_cache == await getattr(direct, read)(1, 1), read
        page = await cached.page(1, limit=10, offset=0)
        assert [m.id for m in page[0]] == [1, 2]
        from_mongodb = await direct.page(1, limit=10, offset=0)
        assert [(m.public_id, m.name, m.status) for m in from_mongodb[0]] == [
            (m.public_id, m.name, m.status) for m in page[0]
        ]
        shown = [
            {key: (m.model_type, m.display_name, m.description) for key, m in own.items()}
            for own in (
                await direct.own_models(1, ["mdl_000000000001", "mdl_000000000003"]),
                await cached.own_models(1, ["mdl_000000000001", "mdl_000000000003"]),
            )
        ]
        assert shown == [{"mdl_000000000001": ("chat", "One", "d")}] * 2
    finally:
        cache.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def counted(model_id: int, *, organization_id: int = 1, gpus: int = 0) -> Document:
    """A model counting `gpus` against its quota, reserved on node-a while it does."""
    return {
        **model(model_id, organization_id=organization_id),
        "quota_gpus": gpus,
        "reserved": gpus > 0,
        "reservation": [{"node": "node-a", "gpus": gpus}] if gpus else [],
    }


def test_the_cache_keeps_each_organizations_quota_count_and_the_reservations() -> None:
    cache = RegistryCache(None)  # type: ignore[arg-type]  # fed by hand: no collection read
    cache.put({**counted(1, gpus=2), "_id": "o1"})
    cache.put({**counted(2, gpus=1), "_id": "o2"})
    cache.put({**counted(3, organization_id=2, gpus=4), "_id": "o3"})
    cache.put({**counted(4), "_id": "o4"})
    assert (cache.quota_used(1), cache.quota_used(2), cache.quota_used(3)) == (3, 4, 0)
    now = datetime.now(UTC)
    assert sorted(r.id for r in cache.reserving(now)) == [1, 2, 3]

    # a change replaces what the model counted; a released reservation holds through its
    # grace (`released_at`, its end), then is forgotten
    cache.put({**counted(1, gpus=3), "_id": "o1"})
    grace_end = now + timedelta(seconds=60)
    cache.put({**counted(2, gpus=1), "reserved": False, "released_at": grace_end, "_id": "o2"})
    assert cache.quota_used(1) == 4
    assert sorted(r.id for r in cache.reserving(now)) == [1, 2, 3]
    assert sorted(r.id for r in cache.reserving(grace_end + timedelta(seconds=1))) == [1, 3]
    assert sorted(r.id for r in cache.reserving(now)) == [1, 3]

    cache.discard("o1")  # type: ignore[arg-type]  # any key the cache was given
    cache.discard("o3")  # type: ignore[arg-type]
    assert (cache.quota_used(1), cache.quota_used(2)) == (1, 0)
    assert cache.reserving(now) == []


async def test_status_reads_the_quota_and_reservations_from_the_cache_as_mongodb_counts_them(
    mongo_db: AsyncDatabase[Document],
) -> None:
    models = mongo_db[Collection.MODELS]
    await models.insert_many(
        [
            counted(1, gpus=2),
            counted(2, gpus=1) | {"status": "failed"},  # a failed model's reservation is free
            counted(3, gpus=1) | {"released_at": NOW},  # released long ago
            # released a moment ago: out of the index, holding through its grace
            counted(6, gpus=2) | {"reserved": False, "released_at": datetime.now(UTC) + GRACE},
            counted(4, organization_id=2, gpus=4),
            counted(5),
        ]
    )
    await mongo_db[Collection.ORGANIZATION_QUOTAS].insert_one({"_id": 1, "gpus": 8})
    cache = RegistryCache(models)
    from_mongodb, from_cache = Admissions(mongo_db), Admissions(mongo_db, cache=cache)
    task = asyncio.create_task(cache.run())
    try:
        await until(lambda: cache.ready)
        for organization_id in (1, 2, 3):
            assert await from_cache.usage(organization_id) == await from_mongodb.usage(
                organization_id
            )
        assert await from_cache.usage(1) == (8, 6)
        assert sorted(r.public_id for r in await from_cache.reserved()) == sorted(
            r.public_id for r in await from_mongodb.reserved()
        )
        assert sorted(r.public_id[-1] for r in await from_cache.reserved()) == ["1", "4", "6"]
        assert [r.plan for r in await from_cache.reserved() if r.public_id.endswith("1")] == [
            [("node-a", 2)]
        ]

        await models.delete_one({"id": 1})
        await until(lambda: cache.quota_used(1) == 4)
        assert await from_cache.usage(1) == await from_mongodb.usage(1) == (8, 4)
    finally:
        cache.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
