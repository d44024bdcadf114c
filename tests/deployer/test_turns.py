"""Whose turn it is to act on a model across deployer replicas: the pure decision, the
processor obeying it, and the NATS KV record under real concurrency."""

import asyncio
import itertools
from contextlib import suppress
from typing import cast

import nats.errors
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue
from pydantic import SecretStr

from services.deployer.adapters.turns import BUCKET, KvModelTurns, open_bucket
from services.deployer.inbox import read_command
from services.deployer.processing import CommandProcessor, RetryPolicy
from services.deployer.turns import (
    Busy,
    EveryTurnGranted,
    Granted,
    Rank,
    Repeated,
    Superseded,
    Turn,
    TurnRecord,
    decide,
    given_back,
    rank_of,
)
from shared.secrets import TokenCipher
from shared.settings import DEV_ENCRYPTION_KEY
from tests.deployer.fakes import FakeCluster, FakeDelivery, FakeEvents
from tests.shared.examples import seed_create_command, seed_delete_command

CREATE_1: Rank = (1, 0)
DELETE_1: Rank = (1, 1)
CREATE_2: Rank = (2, 0)


def test_ranks_order_generations_then_a_delete_after_its_create() -> None:
    assert rank_of(seed_create_command()) == CREATE_1
    assert rank_of(seed_delete_command()) == DELETE_1
    assert CREATE_1 < DELETE_1 < CREATE_2


def test_a_free_model_is_granted_and_leased_to_the_asker() -> None:
    turn, record = decide(None, public_id="m", rank=CREATE_1, me="a", now=100.0, lease=30.0)
    assert turn == Granted(public_id="m", rank=CREATE_1)
    assert record == TurnRecord(done=(0, 0), holder="a", until=130.0)


def test_a_model_another_replica_holds_is_busy_until_its_lease_runs_out() -> None:
    held = TurnRecord(holder="b", until=130.0)
    turn, record = decide(held, public_id="m", rank=CREATE_2, me="a", now=100.0, lease=30.0)
    assert turn == Busy(holder="b", retry_in=30.0)
    assert record is None
    turn, record = decide(held, public_id="m", rank=CREATE_2, me="a", now=131.0, lease=30.0)
    assert isinstance(turn, Granted)
    assert record is not None
    assert record.holder == "a"


def test_a_command_ranked_below_what_was_done_is_superseded_and_equal_runs_again() -> None:
    deleted = TurnRecord(done=DELETE_1)
    turn, record = decide(deleted, public_id="m", rank=CREATE_1, me="a", now=0.0, lease=30.0)
    assert turn == Superseded(done=DELETE_1)
    assert record is None
    again, _ = decide(deleted, public_id="m", rank=DELETE_1, me="a", now=0.0, lease=30.0)
    assert isinstance(again, Granted)  # a second DELETE re-runs the delete


def test_giving_back_records_only_what_was_carried_out() -> None:
    turn = Granted(public_id="m", rank=CREATE_2)
    holding = TurnRecord(done=CREATE_1, holder="a", until=130.0)
    assert given_back(holding, turn, me="a", done=True) == TurnRecord(done=CREATE_2)
    assert given_back(holding, turn, me="a", done=False) == TurnRecord(done=CREATE_1)
    taken_over = TurnRecord(done=CREATE_1, holder="b", until=200.0)
    assert given_back(taken_over, turn, me="a", done=True) == TurnRecord(
        done=CREATE_2, holder="b", until=200.0
    )


def test_a_redelivery_of_the_message_last_written_does_not_write_again() -> None:
    # written, not reported (the event did not get out): granted, marked as written
    written = TurnRecord(done=(0, 0), applied="c1")
    turn, record = decide(
        written, public_id="m", rank=CREATE_1, me="a", now=0.0, lease=30.0, msg_id="c1"
    )
    assert turn == Granted(public_id="m", rank=CREATE_1, msg_id="c1", applied=True)
    assert record == TurnRecord(done=(0, 0), holder="a", until=30.0, applied="c1")
    # written and reported: a duplicate, acknowledged with no record written
    reported = TurnRecord(done=CREATE_1, applied="c1")
    turn, record = decide(
        reported, public_id="m", rank=CREATE_1, me="a", now=0.0, lease=30.0, msg_id="c1"
    )
    assert turn == Repeated(msg_id="c1")
    assert record is None
    # a repair of the same generation is another message: it writes
    repair, _ = decide(
        reported, public_id="m", rank=CREATE_1, me="a", now=0.0, lease=30.0, msg_id="r1"
    )
    assert repair == Granted(public_id="m", rank=CREATE_1, msg_id="r1", applied=False)


def test_giving_back_names_the_message_whose_writes_were_made() -> None:
    turn = Granted(public_id="m", rank=CREATE_2, msg_id="c2")
    holding = TurnRecord(done=CREATE_1, holder="a", until=130.0, applied="c1")
    assert given_back(holding, turn, me="a", done=False, applied=True) == TurnRecord(
        done=CREATE_1, applied="c2"
    )
    # failed before writing: the record still names the last message that did write
    assert given_back(holding, turn, me="a", done=False) == TurnRecord(done=CREATE_1, applied="c1")


# --- the processor obeys the turn ---------------------------------------------------------


class ScriptedTurns:
    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.given_back: list[tuple[Granted, bool]] = []

    async def take(self, public_id: str, rank: Rank, *, msg_id: str = "") -> Turn:
        return self.turn

    async def give_back(self, turn: Granted, *, done: bool, applied: bool = False) -> None:
        self.given_back.append((turn, done))


POLICY = RetryPolicy(max_attempts=3, base=0.5, ceiling=4.0, keepalive_interval=0.01)


async def run_with(turns: ScriptedTurns | EveryTurnGranted, cluster: FakeCluster) -> FakeDelivery:
    data = seed_create_command().model_copy(update={"hf_token_encrypted": None})
    raw = data.model_dump_json().encode()
    processor = CommandProcessor(
        cluster=cluster,
        events=FakeEvents(),
        cipher=TokenCipher(SecretStr(DEV_ENCRYPTION_KEY)),
        policy=POLICY,
        turns=turns,
    )
    delivery = FakeDelivery(data=raw)
    await processor.process(delivery, read_command(raw))
    return delivery


async def test_a_busy_model_is_nakked_until_the_other_replicas_lease_runs_out() -> None:
    cluster = FakeCluster()
    delivery = await run_with(ScriptedTurns(Busy(holder="b", retry_in=1.5)), cluster)
    assert delivery.settled == [("nak", 1.5)]
    assert cluster.applied == []


async def test_a_superseded_command_is_acked_without_touching_the_cluster() -> None:
    cluster = FakeCluster()
    delivery = await run_with(ScriptedTurns(Superseded(done=DELETE_1)), cluster)
    assert delivery.settled == [("ack", 0.0)]
    assert cluster.applied == []


async def test_a_granted_turn_is_given_back_done_once_the_command_is_settled() -> None:
    cluster = FakeCluster()
    turns = ScriptedTurns(Granted(public_id="m", rank=CREATE_1))
    delivery = await run_with(turns, cluster)
    assert delivery.verdict == "ack"
    assert cluster.applied
    assert turns.given_back == [(Granted(public_id="m", rank=CREATE_1), True)]


# --- the record in NATS KV, real server ---------------------------------------------------

_models = itertools.count(1)


@pytest.fixture
async def kv_js(jetstream: JetStreamContext) -> JetStreamContext:
    with suppress(NotFoundError):
        await jetstream.delete_key_value(BUCKET)
    return jetstream


@pytest.mark.integration
async def test_of_replicas_asking_at_once_exactly_one_is_granted(kv_js: JetStreamContext) -> None:
    kv = await open_bucket(kv_js, replicas=1)
    replicas = [KvModelTurns(kv, me=f"r{i}", lease=30.0) for i in range(6)]
    for _ in range(10):
        model = f"mdl_{next(_models)}"
        turns = await asyncio.gather(*(r.take(model, CREATE_1) for r in replicas))
        granted = [t for t in turns if isinstance(t, Granted)]
        assert len(granted) == 1, turns
        assert all(isinstance(t, Busy) for t in turns if not isinstance(t, Granted))


@pytest.mark.integration
async def test_the_record_supersedes_older_commands_for_every_replica(
    kv_js: JetStreamContext,
) -> None:
    kv = await open_bucket(kv_js, replicas=1)
    a, b = KvModelTurns(kv, me="a", lease=30.0), KvModelTurns(kv, me="b", lease=30.0)
    turn = await a.take("mdl_x", DELETE_1)
    assert isinstance(turn, Granted)
    assert isinstance(await b.take("mdl_x", CREATE_1), Busy)
    await a.give_back(turn, done=True)
    assert await b.take("mdl_x", CREATE_1) == Superseded(done=DELETE_1)
    # a reopened bucket (a restarted deployer) still knows
    again = KvModelTurns(await open_bucket(kv_js, replicas=1), me="c", lease=30.0)
    assert await again.take("mdl_x", CREATE_1) == Superseded(done=DELETE_1)


@pytest.mark.integration
async def test_the_turn_of_a_replica_that_died_comes_free_when_its_lease_runs_out(
    kv_js: JetStreamContext,
) -> None:
    kv = await open_bucket(kv_js, replicas=1)
    now = [1000.0]
    dead = KvModelTurns(kv, me="dead", lease=5.0, clock=lambda: now[0])
    alive = KvModelTurns(kv, me="alive", lease=5.0, clock=lambda: now[0])
    assert isinstance(await dead.take("mdl_y", CREATE_1), Granted)
    busy = await alive.take("mdl_y", CREATE_1)
    assert busy == Busy(holder="dead", retry_in=5.0)
    now[0] += 5.1
    assert isinstance(await alive.take("mdl_y", CREATE_1), Granted)


@pytest.mark.integration
async def test_a_create_whose_event_did_not_get_out_is_written_once_whoever_redelivers(
    kv_js: JetStreamContext,
) -> None:
    """NATS refuses the `applied` event after the objects are written (a node lost): the
    redelivery, on another replica, publishes the event and writes nothing; a further
    duplicate delivery (an ack lost) is only acknowledged."""
    kv = await open_bucket(kv_js, replicas=1)
    cluster, events = FakeCluster(), FakeEvents(fail=1)
    data = seed_create_command().model_copy(update={"hf_token_encrypted": None})
    raw = data.model_dump_json().encode()

    def replica(me: str) -> CommandProcessor:
        return CommandProcessor(
            cluster=cluster,
            events=events,
            cipher=TokenCipher(SecretStr(DEV_ENCRYPTION_KEY)),
            policy=POLICY,
            turns=KvModelTurns(kv, me=me, lease=30.0),
        )

    first = FakeDelivery(data=raw, msg_id="cmd-1")
    await replica("a").process(first, read_command(raw))
    assert first.verdict == "nak"
    writes = len(cluster.applied)
    assert writes > 0
    assert events.published == []

    second = FakeDelivery(data=raw, msg_id="cmd-1", attempt=2)
    await replica("b").process(second, read_command(raw))
    assert second.verdict == "ack"
    assert len(cluster.applied) == writes
    assert events.types == ["applied"]

    third = FakeDelivery(data=raw, msg_id="cmd-1", attempt=3)
    await replica("a").process(third, read_command(raw))
    assert third.verdict == "ack"
    assert len(cluster.applied) == writes
    assert events.types == ["applied"]

    # the same command as a new message (a repair is one) writes again
    repair = FakeDelivery(data=raw, msg_id="repair-1")
    await replica("a").process(repair, read_command(raw))
    assert repair.verdict == "ack"
    assert len(cluster.applied) == 2 * writes


class LosingWrites:
    """A bucket whose next `lost` writes go unanswered, as while the node leading it is
    killed and the others elect a new leader (reads and later writes reach the server)."""

    def __init__(self, kv: KeyValue, lost: int) -> None:
        self._kv = kv
        self.lost = lost

    async def get(self, key: str) -> KeyValue.Entry:
        return await self._kv.get(key)

    async def create(self, key: str, value: bytes) -> int:
        self._lose()
        return await self._kv.create(key, value)

    async def update(self, key: str, value: bytes, last: int | None = None) -> int:
        self._lose()
        return await self._kv.update(key, value, last=last)

    def _lose(self) -> None:
        if self.lost:
            self.lost -= 1
            raise nats.errors.TimeoutError


@pytest.mark.integration
async def test_a_create_whose_event_and_turn_record_both_miss_an_outage_is_written_once(
    kv_js: JetStreamContext,
) -> None:
    """The node lost refuses the `applied` event and the first writes of the turn record
    too: the record is written once NATS answers again (within the lease), so the
    redelivery publishes the event and writes nothing."""
    kv = await open_bucket(kv_js, replicas=1)
    cluster, events = FakeCluster(), FakeEvents(fail=1)
    data = seed_create_command().model_copy(update={"hf_token_encrypted": None})
    raw = data.model_dump_json().encode()
    losing = LosingWrites(kv, lost=0)

    def replica(me: str, bucket: KeyValue | LosingWrites) -> CommandProcessor:
        return CommandProcessor(
            cluster=cluster,
            events=events,
            cipher=TokenCipher(SecretStr(DEV_ENCRYPTION_KEY)),
            policy=POLICY,
            turns=KvModelTurns(cast(KeyValue, bucket), me=me, lease=30.0),
        )

    first = FakeDelivery(data=raw, msg_id="cmd-9")
    a = replica("a", losing)

    async def lose_after_take() -> None:
        # the take's write gets through; everything after it is lost four times
        while not cluster.applied:
            await asyncio.sleep(0.001)
        losing.lost = 4

    losing_task = asyncio.create_task(lose_after_take())
    await a.process(first, read_command(raw))
    await losing_task
    assert first.verdict == "nak"
    assert losing.lost == 0  # every lost write was tried again
    writes = len(cluster.applied)

    second = FakeDelivery(data=raw, msg_id="cmd-9", attempt=2)
    await replica("b", kv).process(second, read_command(raw))
    assert second.verdict == "ack"
    assert len(cluster.applied) == writes
    assert events.types == ["applied"]


@pytest.mark.integration
async def test_a_turn_record_nats_never_takes_is_given_up_when_the_lease_runs_out(
    kv_js: JetStreamContext,
) -> None:
    kv = await open_bucket(kv_js, replicas=1)
    losing = LosingWrites(kv, lost=0)
    turns = KvModelTurns(cast(KeyValue, losing), me="a", lease=0.5)
    turn = await turns.take("mdl_lost", CREATE_1)
    assert isinstance(turn, Granted)
    losing.lost = 10_000
    started = asyncio.get_running_loop().time()
    with pytest.raises(nats.errors.TimeoutError):
        await turns.give_back(turn, done=True, applied=True)
    assert asyncio.get_running_loop().time() - started < 0.5
    assert losing.lost < 10_000 - 1  # tried more than once
