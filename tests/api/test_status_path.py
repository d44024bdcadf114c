"""The path one model event takes through the api, on fakes (no server): the consumer
reads the model once, `settling.plan` judges once, the registry writes once, the message is
acked; a repair is kicked with the outbox entry just written, nothing re-read."""

from typing import Any, cast

import pytest
from nats.aio.client import Client

from services.api import settling
from services.api.adapters.status_consumer import StatusConsumer
from services.api.records import StoredModel
from shared.commands import ModelRef
from shared.events import (
    CloudEvent,
    DriftedData,
    ModelDrifted,
    ModelRunning,
    ObjectRef,
    RunningData,
)
from shared.records import Document
from tests.api.fakes import (
    FakeJetStream,
    FakeMetadata,
    FakeMsg,
    FakeNats,
    FakePullSubscription,
    FakeRegistry,
    FakeRelay,
    FakeSequence,
    model_document,
)

SOURCE = "/jan-models/inventory"


def stored_model(status: str) -> Document:
    return {**model_document(), "status": status}


def ref(document: Document) -> dict[str, Any]:
    return ModelRef(
        organization_id=document["organization_id"],
        model_id=document["id"],
        public_id=document["public_id"],
        name=document["name"],
        generation=1,
    ).model_dump()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    recorded: list[str] = []
    real_plan = settling.plan

    def plan(*args: Any, **kwargs: Any) -> dict[str, settling.ModelPlan]:
        recorded.append("settling.plan")
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(settling, "plan", plan)
    return recorded


async def deliver(
    calls: list[str], registry: FakeRegistry, relay: FakeRelay, *events: CloudEvent
) -> None:
    """Through the consumer's own loop: one fetch brings `events`, the next finds none."""
    messages = [
        FakeMsg(calls, event.model_dump_json().encode(), FakeMetadata(FakeSequence(seq)))
        for seq, event in enumerate(events, 1)
    ]
    js = FakeJetStream()
    consumer = StatusConsumer(registry=registry, nats=cast(Client, FakeNats(js)), relay=relay)
    js.subscription = FakePullSubscription([messages], drained=consumer.stop)
    await consumer.run()


def holding(calls: list[str], model: Document) -> FakeRegistry:
    registry = FakeRegistry(calls)
    registry.put(model)
    return registry


async def test_one_event_reads_plans_and_writes_once_then_acks(calls: list[str]) -> None:
    model = stored_model("deploying")
    registry, relay = holding(calls, model), FakeRelay(calls)
    event = ModelRunning.of(RunningData(**ref(model), replicas=1, ready_replicas=1), source=SOURCE)

    await deliver(calls, registry, relay, event)

    assert calls == ["registry.by_public_ids", "settling.plan", "registry.write_all", "msg.ack"]
    assert registry.stored(model["public_id"])["status"] == "running"


async def test_a_drift_is_repaired_with_the_outbox_entry_just_written(calls: list[str]) -> None:
    model = stored_model("running")
    registry, relay = holding(calls, model), FakeRelay(calls)
    missing = [ObjectRef(api_version="v1", kind="Service", name=model["name"])]
    event = ModelDrifted.of(DriftedData(**ref(model), missing=missing), source=SOURCE)

    await deliver(calls, registry, relay, event)

    assert calls == [
        "registry.by_public_ids",
        "settling.plan",
        "registry.write_all",
        "relay.kick",
        "msg.ack",
    ]
    assert relay.kicked == [registry.stored(model["public_id"])["outbox"]]


async def test_a_lost_guard_plans_the_batch_again_from_a_fresh_read(calls: list[str]) -> None:
    model = stored_model("deploying")
    registry, relay = holding(calls, model), FakeRelay(calls)
    real_read = registry.by_public_ids

    async def read_then_someone_writes(public_ids: list[str]) -> dict[str, StoredModel]:
        found = await real_read(public_ids)
        if calls.count("registry.by_public_ids") == 1:  # a delete lands between read and write
            registry.stored(model["public_id"])["status"] = "deleting"
        return found

    registry.by_public_ids = read_then_someone_writes  # type: ignore[method-assign]  # a race, staged
    event = ModelRunning.of(RunningData(**ref(model), replicas=1, ready_replicas=1), source=SOURCE)

    await deliver(calls, registry, relay, event)

    assert calls == [
        "registry.by_public_ids",
        "settling.plan",
        "registry.write_all",
        "registry.by_public_ids",
        "settling.plan",
        "msg.ack",  # nothing left to write
    ]
    assert registry.stored(model["public_id"])["status"] == "deleting"  # running is ignored


def test_the_log_says_removed_only_for_a_removal(caplog: pytest.LogCaptureFixture) -> None:
    """A conditions-only update sets no status: it is "model updated", never "removed"."""
    model = stored_model("deploying")
    event = ModelRunning.of(RunningData(**ref(model), replicas=1, ready_replicas=1), source=SOURCE)
    read = StoredModel.from_document(model)
    state = settling.state_of(read)
    plans = {
        "a": settling.ModelPlan(read=read, state=state, judged=[settling.Judged(event, None)]),
        "b": settling.ModelPlan(
            read=read, state=state, judged=[settling.Judged(event, None, removed=True)]
        ),
    }
    consumer = StatusConsumer(
        registry=FakeRegistry(), nats=cast(Client, FakeNats()), relay=FakeRelay()
    )
    with caplog.at_level("INFO", logger="services.api.adapters.status_consumer"):
        consumer._report(plans)
    assert [record.getMessage() for record in caplog.records] == ["model updated", "model removed"]
