"""Group commit: concurrent creates go to MongoDB as one unordered insert_many, and each
caller still gets its own answer (the real server decides which document is a duplicate)."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.api.adapters.group_commit import GroupCommit
from services.api.adapters.registry import Registry
from services.api.documents import new_model_document
from services.api.identifiers import PublicIdCollisionError
from services.api.records import StoredModel
from services.api.requests import CreateModelRequest
from services.api.web.examples import SEED_CREATE_REQUEST
from shared import database
from shared.errors import ModelNameTakenError
from shared.names import Collection
from shared.records import Document
from tests.api.conftest import KeyFactory

MODELS = "/v1/organization/models"


def body(name: str) -> dict[str, Any]:
    request = {**SEED_CREATE_REQUEST, "name": name}
    config = dict(SEED_CREATE_REQUEST["deployment_config"])
    config["args"] = [
        arg.replace("--served-model-name qwen3-coder-30b", f"--served-model-name {name}")
        for arg in config["args"]
    ]
    request["deployment_config"] = config
    return request


def document(name: str, *, model_id: int, public_id: str) -> Document:
    now = datetime.now(UTC)
    return new_model_document(
        CreateModelRequest.model_validate(body(name)),
        model_id=model_id,
        public_id=public_id,
        organization_id=7,
        hf_token_encrypted=None,
        now=now,
        due_at=now,
    )


async def test_each_writer_gets_its_own_outcome_and_writes_share_commands() -> None:
    written: list[list[int]] = []
    release = asyncio.Event()

    async def write(items: list[int]) -> list[BaseException | None]:
        written.append(items)
        await release.wait()
        return [ValueError(item) if item % 3 == 0 else None for item in items]

    commit = GroupCommit[int, None](write)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)  # the first batch [1] is in flight now
    later = [asyncio.create_task(commit.submit(item)) for item in range(2, 8)]
    await asyncio.sleep(0)
    release.set()
    outcomes = await asyncio.gather(first, *later, return_exceptions=True)

    assert written == [[1], [2, 3, 4, 5, 6, 7]]  # everything that came meanwhile: one write
    assert [type(o).__name__ for o in outcomes] == [
        "NoneType",
        "NoneType",
        "ValueError",
        "NoneType",
        "NoneType",
        "ValueError",
        "NoneType",
    ]
    assert commit.batches == 2


async def test_a_failed_write_fails_its_batch_only_and_a_cancelled_caller_nobody_else() -> None:
    calls = 0

    async def write(items: list[str]) -> list[BaseException | str]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise ConnectionError("server went away")
        return [item.upper() for item in items]

    commit = GroupCommit[str, str](write)
    doomed = asyncio.create_task(commit.submit("a"))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(commit.submit("b"))
    kept = asyncio.create_task(commit.submit("c"))
    await asyncio.sleep(0)
    cancelled.cancel()

    with pytest.raises(ConnectionError):
        await doomed
    assert await kept == "C"
    assert cancelled.cancelled()


async def test_a_batch_settles_after_its_callers_are_answered_and_before_the_next_batch() -> None:
    log: list[str] = []
    settling = asyncio.Event()
    failing = [True]

    async def write(items: list[int]) -> list[BaseException | int]:
        log.append(f"write {items}")
        return list(items)

    async def settle() -> None:
        log.append("settle")
        settling.set()
        await asyncio.sleep(0.05)
        if failing and failing.pop():
            raise RuntimeError("a follow-up that fails")

    commits: GroupCommit[int, int] = GroupCommit(write, settle=settle)
    first = asyncio.create_task(commits.submit(1))
    await settling.wait()
    assert first.done()  # answered while its batch still settles
    assert first.result() == 1
    assert commits.batches == 1
    assert not commits.idle
    second = await commits.submit(2)  # arrives during a settle that fails, written after it
    assert second == 2
    await until_idle(commits)
    assert log == ["write [1]", "settle", "write [2]", "settle"]


async def until_idle(commits: GroupCommit[int, int]) -> None:
    async with asyncio.timeout(5):
        while not commits.idle:
            await asyncio.sleep(0.01)


@pytest.mark.integration
async def test_concurrent_inserts_answer_per_document_on_the_real_server(
    mongo_db: AsyncDatabase[Document],
) -> None:
    await database.ensure_indexes(mongo_db, (Collection.MODELS,))
    registry = Registry(mongo_db)
    await registry.insert(document("existing", model_id=1, public_id="mdl_existing0001"))
    documents = [
        document(f"model-{i}", model_id=10 + i, public_id=f"mdl_batch{i:07d}") for i in range(20)
    ]
    documents += [
        document("model-3", model_id=40, public_id="mdl_dupname00001"),  # taken in the batch
        document("existing", model_id=41, public_id="mdl_dupname00002"),  # taken before
        document("fresh", model_id=42, public_id="mdl_existing0001"),  # public id collides
    ]
    batches_before = registry._inserts.batches

    outcomes = await asyncio.gather(
        *(registry.insert(d) for d in documents), return_exceptions=True
    )

    assert outcomes[:20] == [StoredModel.from_document(d) for d in documents[:20]]  # as stored
    assert isinstance(outcomes[20], ModelNameTakenError)
    assert outcomes[20].message == (
        "a model named 'model-3' already exists in namespace 'jan-models'"
    )
    assert isinstance(outcomes[21], ModelNameTakenError)
    assert "'existing'" in outcomes[21].message
    assert isinstance(outcomes[22], PublicIdCollisionError)
    assert registry._inserts.batches - batches_before <= 2
    stored = await mongo_db[Collection.MODELS].find({}, {"name": 1, "outbox.msg_id": 1}).to_list()
    names = sorted(d["name"] for d in stored)
    assert names == sorted(["existing", *(f"model-{i}" for i in range(20))])
    assert all(d["outbox"]["msg_id"] for d in stored)  # stored with its command


@pytest.mark.integration
async def test_concurrent_creates_answer_201_or_409_each_for_its_own_name(
    http: httpx.AsyncClient, key_for: KeyFactory
) -> None:
    headers = await key_for(5)
    names = [f"burst-{i % 12}" for i in range(18)]  # six names asked for twice

    responses = await asyncio.gather(
        *(http.post(MODELS, json=body(name), headers=headers) for name in names)
    )

    created = [r.json()["model"]["name"] for r in responses if r.status_code == 201]
    assert sorted(created) == sorted(set(names))
    for name, response in zip(names, responses, strict=True):
        assert response.status_code in (201, 409)
        if response.status_code == 409:
            assert response.json() == {
                "error": f"a model named '{name}' already exists in namespace 'jan-models'"
            }
    listed = await http.get(MODELS, params={"limit": 100}, headers=headers)
    assert listed.json()["total"] == 12
