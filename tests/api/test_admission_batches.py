"""Group-committed admission against the real MongoDB-compatible server: creates racing in
one process are judged together, and a batch never admits more than the cluster or the
quota holds, nor lets one refused insert take the others down."""

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.api.adapters.admissions import Admissions
from services.api.adapters.quotas import LEDGER_ID, OrganizationQuotas
from services.api.adapters.registry_cache import RegistryCache
from services.api.admission import Ask, Plan, reservation_fields
from services.api.documents import new_model_document
from services.api.records import ModelRecord, StoredModel
from services.api.requests import CreateModelRequest
from shared import database
from shared.errors import GpuQuotaExceededError, InsufficientResourcesError, ModelNameTakenError
from shared.names import Collection
from shared.queries import StatusReply
from shared.records import Document
from shared.tasks import cancel_and_wait
from shared.transactions import TransactionSessions
from tests.api.conftest import gpu_placement, synced_status
from tests.api.test_group_commit import body

ONE_GPU = Ask(gpus=1, replicas=1)
_ids = itertools.count(1)


@pytest.fixture
async def admissions(mongo_db: AsyncDatabase[Document]) -> AsyncIterator[Admissions]:
    """The api's admissions, in a registered transaction session as the runtime runs them."""
    await database.ensure_indexes(mongo_db, (Collection.MODELS,))
    sessions = TransactionSessions(mongo_db, service="api")
    await sessions.start()
    try:
        yield Admissions(mongo_db, transactions=sessions)
    finally:
        await sessions.close()


def builder(name: str, organization_id: int) -> Callable[[Plan], Document]:
    """What the create handler builds from a plan (the fields admission reads included)."""
    model_id = next(_ids)

    def build(plan: Plan) -> Document:
        now = datetime.now(UTC)
        document = new_model_document(
            CreateModelRequest.model_validate(body(name)),
            model_id=model_id,
            public_id=f"mdl_{model_id:012d}",
            organization_id=organization_id,
            hf_token_encrypted=None,
            now=now,
            due_at=now,
        )
        return {**document, **reservation_fields(plan), "gpus_per_replica": 1, "quota_gpus": 1}

    return build


async def race(
    admissions: Admissions, status: StatusReply, creates: list[tuple[str, int]]
) -> list[StoredModel | BaseException]:
    """All of `creates` (name, organization) at once, each asking one GPU."""

    async def cluster() -> StatusReply:
        return status

    outcomes = await asyncio.gather(
        *(
            admissions.admit(
                builder(name, organization),
                organization_id=organization,
                ask=ONE_GPU,
                quota_gpus=1,
                cluster=cluster,
                min_vram_bytes=0,
            )
            for name, organization in creates
        ),
        return_exceptions=True,
    )
    await until(lambda: admissions.idle)  # the batch's releases, written after its answers
    return list(outcomes)


def stored(outcomes: list[StoredModel | BaseException]) -> list[ModelRecord]:
    return [outcome.record for outcome in outcomes if isinstance(outcome, StoredModel)]


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.01)


async def until_cache_shows(
    admissions: Admissions, public_id: str, shown: Callable[[ModelRecord], bool]
) -> None:
    """Until the admissions' registry cache (if they have one) shows the model so."""
    cache = admissions._cache
    if cache is not None:
        await until(lambda: (record := cache.get(public_id)) is not None and shown(record))


async def reserved_on(db: AsyncDatabase[Document]) -> dict[str, int]:
    totals: dict[str, int] = {}
    async for model in db[Collection.MODELS].find({"reserved": True}):
        for entry in model["reservation"]:
            totals[entry["node"]] = totals.get(entry["node"], 0) + entry["gpus"]
    return totals


async def test_racing_creates_share_transactions_and_admit_exactly_the_free_gpus(
    mongo_db: AsyncDatabase[Document], admissions: Admissions
) -> None:
    status = synced_status(placement=gpu_placement(allocatable=8, allocated=3))
    outcomes = await race(admissions, status, [(f"racer-{n}", 1 + n % 2) for n in range(12)])

    assert len(stored(outcomes)) == 5
    refused = [outcome for outcome in outcomes if not isinstance(outcome, StoredModel)]
    assert len(refused) == 7
    assert all(isinstance(outcome, InsufficientResourcesError) for outcome in refused)
    assert admissions.batches == 1  # all arrived before the first transaction began
    assert await mongo_db[Collection.MODELS].count_documents({}) == 5
    assert await reserved_on(mongo_db) == {"gpu-a100-1": 5}
    # The next batch plans on what the earlier ones reserved: nothing is left.
    again = await race(admissions, status, [("late", 1)])
    assert isinstance(again[0], InsufficientResourcesError)


async def test_a_batch_never_takes_an_organization_past_its_quota(
    mongo_db: AsyncDatabase[Document], admissions: Admissions
) -> None:
    await OrganizationQuotas(mongo_db).set(4, gpus=3)
    status = synced_status(placement=gpu_placement(allocatable=64))
    creates = [(f"quota-{n}", 4) for n in range(7)] + [(f"free-{n}", 5) for n in range(4)]
    outcomes = await race(admissions, status, creates)

    admitted = stored(outcomes)
    by_org = {org: sum(1 for d in admitted if d.organization_id == org) for org in (4, 5)}
    assert by_org == {4: 3, 5: 4}
    over = [outcome for outcome in outcomes if isinstance(outcome, GpuQuotaExceededError)]
    assert len(over) == 4
    assert await admissions.usage(4) == (3, 3)


async def test_a_taken_name_refuses_that_create_alone_and_the_rest_of_its_batch_is_stored(
    mongo_db: AsyncDatabase[Document], admissions: Admissions
) -> None:
    status = synced_status(placement=gpu_placement(allocatable=6))
    creates = [("twin", 1), ("solo-1", 1), ("twin", 2), ("solo-2", 2), ("solo-3", 1)]
    outcomes = await race(admissions, status, creates)

    taken = [outcome for outcome in outcomes if isinstance(outcome, ModelNameTakenError)]
    assert len(taken) == 1
    names = sorted(record.name for record in stored(outcomes))
    assert names == ["solo-1", "solo-2", "solo-3", "twin"]
    # The refused twin reserved nothing: exactly the four stored models hold GPUs.
    assert await reserved_on(mongo_db) == {"gpu-a100-1": 4}
    stored_names = await mongo_db[Collection.MODELS].distinct("name")
    assert sorted(stored_names) == names


@pytest.fixture(params=["cache", "no cache"])
async def admissions_either_way(
    request: pytest.FixtureRequest, mongo_db: AsyncDatabase[Document]
) -> AsyncIterator[Admissions]:
    """Admissions that find the released reservations in a registry cache following the
    models, or (no cache, or not ready yet) by scanning `released_at`."""
    await database.ensure_indexes(mongo_db, (Collection.MODELS,))
    sessions = TransactionSessions(mongo_db, service="api")
    await sessions.start()
    cache = RegistryCache(mongo_db[Collection.MODELS]) if request.param == "cache" else None
    task = None if cache is None else asyncio.create_task(cache.run())
    try:
        if cache is not None:
            await until(lambda: cache.ready)
        # Every admission reads the reservations (and so releases what it may): the
        # releases are what these tests are about.
        yield Admissions(mongo_db, transactions=sessions, cache=cache, full_read_seconds=0.0)
    finally:
        if cache is not None and task is not None:
            cache.stop()
            await cancel_and_wait([task])
        await sessions.close()


async def test_a_release_leaves_the_reserved_index_at_once_and_counts_through_its_grace(
    mongo_db: AsyncDatabase[Document], admissions_either_way: Admissions
) -> None:
    admissions = admissions_either_way
    models = mongo_db[Collection.MODELS]
    status = synced_status(placement=gpu_placement(allocatable=4))
    first = stored(await race(admissions, status, [("bound", 1), ("failing", 1), ("pending", 1)]))
    by_name = {record.name: record.public_id for record in first}
    bound_status = synced_status(
        placement=gpu_placement(allocatable=4, allocated=2),
        bound_gpus={by_name[name]: {"gpu-a100-1": 1} for name in ("bound", "pending")},
    )
    # "bound" runs with a replica not ready yet, so its status write did not release it:
    # the next admission sees it bound and releases it with one write, out of the index.
    # "pending", bound too but still creating, is left to the status write that sets it
    # running.
    await models.update_one({"name": "bound"}, {"$set": {"status": "running"}})
    assert stored(await race(admissions, bound_status, [("next", 1)]))
    pending = await models.find_one({"name": "pending"})
    assert pending is not None
    assert (pending["reserved"], pending.get("released_at")) == (True, None)
    bound = await models.find_one({"name": "bound"})
    assert bound is not None
    assert bound["released_at"] > datetime.now(UTC)
    assert bound["reserved"] is False
    # Its pod vanishes within the grace (a status from a lagging replica looks the same):
    # the released reservation still holds its GPU, so nothing is free.
    await until_cache_shows(admissions, by_name["bound"], lambda m: m.released_at is not None)
    unbound_status = synced_status(placement=gpu_placement(allocatable=4))
    sneaky = await race(admissions, unbound_status, [("sneaky", 1)])
    assert isinstance(sneaky[0], InsufficientResourcesError)
    assert by_name["bound"] in {r.public_id for r in await admissions.reserved()}
    # The grace runs out (moved back rather than waited for) and "failing" fails.
    past = datetime.now(UTC) - timedelta(seconds=1)
    await models.update_one({"name": "bound"}, {"$set": {"released_at": past}})
    await models.update_one({"name": "failing"}, {"$set": {"status": "failed"}})
    await until_cache_shows(admissions, by_name["failing"], lambda m: m.status == "failed")
    # 4 GPUs: the pods of "bound" and "pending" hold two, "next" one; the failed one's is free.
    again = await race(admissions, bound_status, [("again", 1), ("over", 1)])
    assert [record.name for record in stored(again)] == ["again"]

    held = sorted([d["name"] async for d in models.find({"reserved": True})])
    assert held == ["again", "next", "pending"]
    assert sorted(r.public_id for r in await admissions.reserved()) == sorted(
        [d["public_id"] async for d in models.find({"reserved": True})]
    )
    plan = await models.find_one({"name": "bound"})
    assert plan is not None
    assert plan["planned_nodes"] == ["gpu-a100-1"]


async def test_admissions_that_follow_each_other_read_the_reservations_once(
    mongo_db: AsyncDatabase[Document], admissions: Admissions
) -> None:
    """While the ledger shows no other admission since this process's last, the next one
    plans on what that one read and stored, without reading the reservations again."""
    status = synced_status(placement=gpu_placement(allocatable=4))
    assert len(stored(await race(admissions, status, [("first-1", 1), ("first-2", 1)]))) == 2
    second = await race(admissions, status, [("second-1", 1), ("second-2", 1), ("second-3", 1)])
    third = await race(admissions, status, [("third", 1)])

    assert admissions.reads == 1
    assert len(stored(second)) == 2  # planned around the first batch's two
    assert isinstance(third[0], InsufficientResourcesError)
    assert await reserved_on(mongo_db) == {"gpu-a100-1": 4}


async def test_an_admission_by_another_replica_in_between_is_read_before_planning(
    mongo_db: AsyncDatabase[Document], admissions: Admissions
) -> None:
    sessions = TransactionSessions(mongo_db, service="api")
    await sessions.start()
    try:
        other = Admissions(mongo_db, transactions=sessions)
        status = synced_status(placement=gpu_placement(allocatable=5))
        assert stored(await race(admissions, status, [("mine", 1)]))
        assert len(stored(await race(other, status, [("theirs-1", 1), ("theirs-2", 1)]))) == 2
        mine = await race(admissions, status, [(f"mine-{n}", 1) for n in range(4)])
        theirs = await race(other, status, [("theirs-3", 1)])
    finally:
        await sessions.close()

    assert len(stored(mine)) == 2  # 5 - 1 - 2: the other replica's two are counted
    assert isinstance(theirs[0], InsufficientResourcesError)
    assert admissions.reads == 2
    assert other.reads == 2
    assert await reserved_on(mongo_db) == {"gpu-a100-1": 5}


async def test_what_a_read_reservation_gave_back_meanwhile_is_free_again_at_the_next_read(
    mongo_db: AsyncDatabase[Document], admissions: Admissions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed model's reservation still counts for the admissions that plan on the last
    read (the safe side), and no longer once the read is older than `full_read_seconds`."""
    status = synced_status(placement=gpu_placement(allocatable=2))
    first = stored(await race(admissions, status, [("failing", 1), ("kept", 1)]))
    failing = next(record for record in first if record.name == "failing")
    await mongo_db[Collection.MODELS].update_one(
        {"public_id": failing.public_id}, {"$set": {"status": "failed"}}
    )
    before = await race(admissions, status, [("too-soon", 1)])
    assert isinstance(before[0], InsufficientResourcesError)
    assert admissions.reads == 1

    monkeypatch.setattr(admissions, "_full_read_seconds", 0.0)
    after = await race(admissions, status, [("in-its-place", 1)])
    assert [record.name for record in stored(after)] == ["in-its-place"]
    assert admissions.reads == 2


async def test_the_limits_come_with_the_ledger_and_a_ledger_from_before_gets_them_once(
    mongo_db: AsyncDatabase[Document], admissions: Admissions
) -> None:
    """An admission learns every limit from the ledger it takes. A database from before
    (quotas in their collection only, a ledger without limits) is filled by the first
    admission; from then on a change through `OrganizationQuotas` reaches both."""
    await mongo_db[Collection.ORGANIZATION_QUOTAS].insert_one({"_id": 8, "gpus": 2})
    await mongo_db[Collection.ADMISSIONS].insert_one({"_id": LEDGER_ID, "seq": 41})
    status = synced_status(placement=gpu_placement(allocatable=64))

    first = await race(admissions, status, [(f"old-{n}", 8) for n in range(3)])
    assert len(stored(first)) == 2
    ledger = await mongo_db[Collection.ADMISSIONS].find_one({"_id": LEDGER_ID})
    assert ledger is not None
    assert (ledger["limits"], ledger["seq"]) == ({"8": 2}, 42)

    quotas = OrganizationQuotas(mongo_db)
    await quotas.set(8, gpus=3)
    await quotas.set(9, gpus=0)
    second = await race(admissions, status, [("raised", 8), ("raised-2", 8), ("none", 9)])
    assert [record.name for record in stored(second)] == ["raised"]
    assert isinstance(second[2], GpuQuotaExceededError)
    assert await quotas.clear(9)
    third = await race(admissions, status, [("cleared", 9)])
    assert [record.name for record in stored(third)] == ["cleared"]
    ledger = await mongo_db[Collection.ADMISSIONS].find_one({"_id": LEDGER_ID})
    assert ledger is not None
    assert ledger["limits"] == {"8": 3}
    # `/status` shows the limit the admissions enforce, from the ledger: a quota
    # document written around `OrganizationQuotas` is not enforced, and not shown.
    await mongo_db[Collection.ORGANIZATION_QUOTAS].insert_one({"_id": 10, "gpus": 1})
    assert (await admissions.usage(8))[0] == 3
    assert (await admissions.usage(10))[0] is None


async def test_the_admissions_after_a_read_still_count_a_released_reservation_in_its_grace(
    mongo_db: AsyncDatabase[Document],
    admissions_either_way: Admissions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reservation the read found released but in its grace (its pod not shown bound)
    holds its GPU for the admissions planning on that read, as for the read itself."""
    admissions = admissions_either_way
    status = synced_status(placement=gpu_placement(allocatable=2))
    released = stored(await race(admissions, status, [("released", 1)]))[0]
    grace_end = datetime.now(UTC) + timedelta(seconds=60)
    await mongo_db[Collection.MODELS].update_one(
        {"public_id": released.public_id},
        {"$set": {"reserved": False, "released_at": grace_end}},
    )
    await until_cache_shows(admissions, released.public_id, lambda m: m.released_at is not None)
    assert stored(await race(admissions, status, [("read", 1)]))  # a read: 1 + 1 of 2
    reads = admissions.reads

    monkeypatch.setattr(admissions, "_full_read_seconds", 60.0)
    after = await race(admissions, status, [("over", 1)])
    assert isinstance(after[0], InsufficientResourcesError)
    assert admissions.reads == reads  # planned on that read


async def test_a_batch_judged_again_after_a_taken_name_reads_the_reservations_again(
    mongo_db: AsyncDatabase[Document], admissions: Admissions
) -> None:
    """What the last admission read is given up once an attempt fails: the next attempt
    may follow a commit that did not happen as planned."""
    status = synced_status(placement=gpu_placement(allocatable=4))
    assert stored(await race(admissions, status, [("taken", 1)]))
    assert admissions.reads == 1
    outcomes = await race(admissions, status, [("taken", 2), ("fresh", 2)])

    assert isinstance(outcomes[0], ModelNameTakenError)
    assert [record.name for record in stored(outcomes)] == ["fresh"]
    assert admissions.reads == 2


async def readmit(
    admissions: Admissions, db: AsyncDatabase[Document], status: StatusReply, name: str, gpus: int
) -> StoredModel:
    """The model named `name` readmitted with `gpus` GPUs for its one replica (a change
    that adds GPUs), as the PATCH handler does."""
    document = await db[Collection.MODELS].find_one({"name": name})
    assert document is not None
    model = StoredModel.from_document(document)

    def changes_for(plan: Plan) -> Document:
        return reservation_fields(plan) | {"generation": model.record.generation + 1}

    async def cluster() -> StatusReply:
        return status

    changed = await admissions.readmit(
        model,
        changes_for,
        ask=Ask(gpus=gpus, replicas=1),
        surge=0,
        quota_gpus=gpus,
        cluster=cluster,
        min_vram_bytes=0,
    )
    assert changed is not None
    assert changed.record.generation == model.record.generation + 1
    return changed


async def test_a_readmission_in_between_is_read_by_the_next_admission(
    mongo_db: AsyncDatabase[Document], admissions: Admissions
) -> None:
    status = synced_status(placement=gpu_placement(allocatable=4))
    assert stored(await race(admissions, status, [("grows", 1)]))
    await readmit(admissions, mongo_db, status, "grows", 3)
    after = await race(admissions, status, [("next", 1), ("too-many", 1)])

    assert [record.name for record in stored(after)] == ["next"]  # 4 - 3 grown
    assert admissions.reads == 2
