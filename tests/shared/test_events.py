import json

import pytest

from shared.events import (
    EVENT_CLASSES,
    AcceptedData,
    AppliedData,
    CloudEvent,
    DegradedData,
    DeletedData,
    DeletingData,
    DriftedData,
    FailedData,
    ModelEventData,
    ObjectRef,
    RepairedData,
    RunningData,
    ScaledData,
    UpdatedData,
    parse_event,
)
from shared.names import EventType
from tests.shared.examples import SEED_REF

IDENTITY = SEED_REF.model_dump()
DEPLOYMENT = ObjectRef(api_version="apps/v1", kind="Deployment", name="qwen3-coder-30b")
DATA: dict[EventType, ModelEventData] = {
    EventType.ACCEPTED: AcceptedData(**IDENTITY),
    EventType.APPLIED: AppliedData(**IDENTITY, objects=[DEPLOYMENT]),
    EventType.RUNNING: RunningData(**IDENTITY, replicas=1, ready_replicas=1),
    EventType.DEGRADED: DegradedData(
        **IDENTITY, replicas=1, ready_replicas=0, reason="NoReadyReplica"
    ),
    EventType.FAILED: FailedData(
        **IDENTITY, stage="runtime", reason="ImagePullBackOff", message="no such image"
    ),
    EventType.DELETING: DeletingData(**IDENTITY),
    EventType.DELETED: DeletedData(**IDENTITY, objects=[DEPLOYMENT]),
    EventType.SCALED: ScaledData(**IDENTITY, replicas=3, ready_replicas=1, previous_replicas=1),
    EventType.DRIFTED: DriftedData(**IDENTITY, missing=[DEPLOYMENT]),
    EventType.REPAIRED: RepairedData(**IDENTITY, objects=[DEPLOYMENT]),
    EventType.UPDATED: UpdatedData(**IDENTITY, changed=["deployment_config.image"]),
}


def test_there_is_one_event_class_per_event_type() -> None:
    assert {cls.event_type for cls in EVENT_CLASSES} == set(EventType)


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.event_type.value)
def test_every_event_round_trips_through_json(cls: type[CloudEvent]) -> None:
    event = cls.of(DATA[cls.event_type], source="/jan-models/tests")

    parsed = parse_event(event.model_dump_json())

    assert type(parsed) is cls
    assert parsed == event


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.event_type.value)
def test_every_event_is_a_valid_cloudevent(cls: type[CloudEvent]) -> None:
    document = json.loads(
        cls.of(DATA[cls.event_type], source="/jan-models/tests").model_dump_json()
    )

    # CloudEvents 1.0 required attributes, and the structured-mode JSON this project promises
    assert document["specversion"] == "1.0"
    assert document["id"]
    assert document["source"] == "/jan-models/tests"
    assert document["type"] == f"ai.jan.model.{cls.event_type.value}"
    assert document["subject"] == "mdl_abc123def456"
    assert document["datacontenttype"] == "application/json"
    assert document["time"].endswith("Z") or "+00:00" in document["time"]
    for field in ("organization_id", "model_id", "public_id", "name", "namespace", "generation"):
        assert field in document["data"]


def test_an_event_is_published_on_its_org_model_and_type_subject() -> None:
    event = EVENT_CLASSES[2].of(DATA[EventType.RUNNING], source="/jan-models/inventory")

    assert event.nats_subject == "model.events.123.qwen3-coder-30b.running"


def test_an_event_whose_type_and_data_disagree_is_rejected() -> None:
    document = json.loads(
        EVENT_CLASSES[2].of(DATA[EventType.RUNNING], source="/x").model_dump_json()
    )
    document["type"] = "ai.jan.model.failed"

    with pytest.raises(ValueError, match="stage"):
        parse_event(json.dumps(document))
