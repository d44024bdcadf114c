"""Conditions and the observed generation, derived from events (pure, no server)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from services.api.conditions import TYPES, conditions_of, derive
from services.api.records import StoredModel
from services.api.settling import state_of
from services.api.transitions import ModelState
from shared.commands import ModelRef
from shared.events import (
    AcceptedData,
    AppliedData,
    CloudEvent,
    DegradedData,
    FailedData,
    ModelAccepted,
    ModelApplied,
    ModelDegraded,
    ModelFailed,
    ModelRunning,
    ObjectRef,
    RunningData,
)
from shared.records import Document

CREATED = datetime(2026, 1, 1, tzinfo=UTC)
DEPLOYMENT = ObjectRef(api_version="apps/v1", kind="Deployment", name="m")


def ref(generation: int = 1) -> dict[str, Any]:
    return ModelRef(
        organization_id=1, model_id=1, public_id="mdl_abcdefabcdef", name="m", generation=generation
    ).model_dump()


def at(event: CloudEvent, seconds: int) -> CloudEvent:
    return event.model_copy(update={"time": CREATED + timedelta(seconds=seconds)})


def model() -> Document:
    return {"status": "creating", "generation": 1, "created_at": CREATED}


def state(document: Document) -> ModelState:
    """What `derive` reads of the model as `document` holds it."""
    identity = {"id": 1, "public_id": "mdl_abcdefabcdef", "organization_id": 1, "name": "m"}
    return state_of(StoredModel.from_document(identity | {"namespace": "n"} | document))


def feed(document: Document, *events: CloudEvent) -> Document:
    for event in events:
        sequence = document.get("conditions_sequence", 0) + 1
        document = document | derive(state(document), event, sequence=sequence)  # type: ignore[arg-type]
    return document


def by_type(document: Document) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in conditions_of(state(document))}


def test_a_new_model_is_accepted_and_the_rest_unknown() -> None:
    conditions = conditions_of(state(model()))
    assert [c["type"] for c in conditions] == list(TYPES)
    assert [c["status"] for c in conditions] == ["True", "Unknown", "Unknown", "Unknown", "Unknown"]
    assert conditions[0]["last_transition_time"] == CREATED


def test_a_model_that_comes_up_then_crashes_reads_like_kubernetes() -> None:
    applied = at(ModelApplied.of(AppliedData(**ref(), objects=[DEPLOYMENT]), source="d"), 1)
    running = at(ModelRunning.of(RunningData(**ref(), replicas=1, ready_replicas=1), source="i"), 2)
    document = feed(model(), at(ModelAccepted.of(AcceptedData(**ref()), source="a"), 0))
    document = feed(document, applied, running)
    up = by_type(document)
    assert document["observed_generation"] == 1
    assert (up["Available"]["status"], up["Available"]["reason"]) == (
        "True",
        "MinimumReplicasAvailable",
    )
    assert up["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert (up["Degraded"]["status"], up["Applied"]["status"]) == ("False", "True")

    degraded = DegradedData(
        **ref(), replicas=1, ready_replicas=0, reason="CrashLoopBackOff", message="OOM"
    )
    failed = FailedData(**ref(), stage="runtime", reason="CrashLoopBackOff", message="OOM")
    document = feed(
        document,
        at(ModelDegraded.of(degraded, source="i"), 3),
        at(ModelFailed.of(failed, source="i"), 4),
    )
    down = by_type(document)
    assert (down["Available"]["status"], down["Available"]["reason"]) == (
        "False",
        "CrashLoopBackOff",
    )
    assert down["Available"]["last_transition_time"] == CREATED + timedelta(seconds=3)
    assert (down["Degraded"]["status"], down["Degraded"]["message"]) == ("True", "OOM")
    assert down["Degraded"]["last_transition_time"] == CREATED + timedelta(seconds=3)
    assert (down["Progressing"]["status"], down["Progressing"]["reason"]) == (
        "False",
        "CrashLoopBackOff",
    )
    assert down["Applied"] == up["Applied"]  # what was applied still is


def test_an_apply_failure_is_applied_false() -> None:
    failed = FailedData(**ref(), stage="apply", reason="Invalid", message="bad field")
    conditions = by_type(feed(model(), ModelFailed.of(failed, source="d")))
    assert (conditions["Applied"]["status"], conditions["Applied"]["reason"]) == (
        "False",
        "Invalid",
    )
    assert conditions["Available"]["status"] == "Unknown"


def test_stale_events_change_nothing() -> None:
    running = ModelRunning.of(RunningData(**ref(), replicas=1, ready_replicas=1), source="i")
    document = feed(model(), running)
    assert derive(state(document), running, sequence=document["conditions_sequence"]) == {}
    newer = document | {"generation": 2}
    old = ModelFailed.of(FailedData(**ref(1), stage="runtime", reason="X"), source="i")
    assert derive(state(newer), old, sequence=99) == {}
    assert derive(state(document | {"status": "deleting"}), old, sequence=99) == {}


def test_a_newer_generation_is_observed_and_updated_replicas_kept() -> None:
    document = model() | {"generation": 2}
    running = RunningData(**ref(2), replicas=2, ready_replicas=2, updated_replicas=2)
    changes = derive(state(document), ModelRunning.of(running, source="i"), sequence=5)
    assert changes["observed_generation"] == 2
    assert changes["updated_replicas"] == 2
    assert changes["conditions_sequence"] == 5
