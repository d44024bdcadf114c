"""What `settling.plan` writes, pinned field for field (pure, no server): a model's life
judged batch by batch, failures, a model deleted while deleting, a model an older version
stored, and a batch of several models. Each batch's changes are applied to the stored
document before the next batch reads it, as the registry would."""

from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import pytest
from bson import ObjectId

from services.api import settling
from services.api.admission import RELEASE_GRACE, reservation_fields
from services.api.documents import ACCEPTED_CONDITION, accepted_condition, new_model_document
from services.api.records import StoredModel
from services.api.requests import CreateModelRequest
from services.api.web.examples import SEED_CREATE_REQUEST
from shared.events import (
    AcceptedData,
    AppliedData,
    DegradedData,
    DeletedData,
    DriftedData,
    FailedData,
    ModelAccepted,
    ModelApplied,
    ModelDegraded,
    ModelDeleted,
    ModelDrifted,
    ModelEvent,
    ModelFailed,
    ModelRepaired,
    ModelRunning,
    ModelScaled,
    ModelUpdated,
    ObjectRef,
    RepairedData,
    RunningData,
    ScaledData,
    UpdatedData,
)
from shared.records import Document
from tests.api.test_status_batches import ref

CREATED = datetime(2026, 3, 1, 12, tzinfo=UTC)
NOW = CREATED + timedelta(hours=1)
"""When the batches are judged: what `updated_at` and a repair's command say."""
DEPLOYMENT = ObjectRef(api_version="apps/v1", kind="Deployment", name="m")
SOURCE = "/jan-models/deployer"
RELEASED: Final = {"reserved": False, "released_at": NOW + RELEASE_GRACE}
"""What releases the admission's reservation with the write (`settling.released`)."""
ON_NODE_A: Final = {"node": "node-a", "gpus": 1}
"""One replica's entry in a reservation."""
Counts = tuple[int, int, int]
"""replicas, ready replicas, updated replicas"""


def stored(model_id: int = 1) -> Document:
    """A model as the api creates it (its admission planned one GPU on node-a), its create
    command still pending."""
    request = CreateModelRequest.model_validate({**SEED_CREATE_REQUEST, "name": f"m{model_id}"})
    document = new_model_document(
        request,
        model_id=model_id,
        public_id=f"mdl_{model_id:012d}",
        organization_id=7,
        hf_token_encrypted="gAAAA-token",
        planned_nodes=["node-a"],
        now=CREATED,
        due_at=CREATED,
    )
    document["_id"] = ObjectId(f"{model_id:024x}")
    reservation = {"reserved": True, "reservation": [{"node": "node-a", "gpus": 1}]}
    return document | reservation | {"planned_nodes": ["node-a"], "gpus_per_replica": 1}


def created(model_id: int = 1, **fields: Any) -> Document:
    """A model as the api creates it, its create command since published, and `fields`."""
    document = stored(model_id) | fields
    del document["outbox"]
    return document


Delivered = tuple[ModelEvent, int]


def at(event: ModelEvent, sequence: int) -> Delivered:
    """The event as the stream delivers it at `sequence`, sent `sequence` seconds in."""
    return event.model_copy(update={"time": CREATED + timedelta(seconds=sequence)}), sequence


def accepted(document: Document, sequence: int, generation: int = 1) -> Delivered:
    data = AcceptedData(**ref(document, generation))
    return at(ModelAccepted.of(data, source=SOURCE), sequence)


def updated(document: Document, sequence: int, *, generation: int, time: datetime) -> Delivered:
    data = UpdatedData(**ref(document, generation), changed=["restart"])
    return ModelUpdated.of(data, source=SOURCE, time=time), sequence


def applied(document: Document, sequence: int, generation: int = 1) -> Delivered:
    data = AppliedData(**ref(document, generation), objects=[DEPLOYMENT])
    return at(ModelApplied.of(data, source=SOURCE), sequence)


def running(document: Document, sequence: int, counts: Counts, generation: int = 1) -> Delivered:
    replicas, ready, updated = counts
    data = RunningData(
        **ref(document, generation),
        replicas=replicas,
        ready_replicas=ready,
        updated_replicas=updated,
    )
    return at(ModelRunning.of(data, source=SOURCE), sequence)


def scaled(document: Document, sequence: int, counts: Counts) -> Delivered:
    replicas, ready, updated = counts
    data = ScaledData(
        **ref(document, 1),
        replicas=replicas,
        ready_replicas=ready,
        updated_replicas=updated,
        previous_replicas=1,
    )
    return at(ModelScaled.of(data, source=SOURCE), sequence)


def degraded(
    document: Document, sequence: int, counts: Counts, reason: str, generation: int = 1
) -> Delivered:
    replicas, ready, updated = counts
    data = DegradedData(
        **ref(document, generation),
        replicas=replicas,
        ready_replicas=ready,
        updated_replicas=updated,
        reason=reason,
        message="exit 1" if reason == "CrashLoopBackOff" else "",
    )
    return at(ModelDegraded.of(data, source=SOURCE), sequence)


def drifted(document: Document, sequence: int) -> Delivered:
    data = DriftedData(**ref(document, 1), missing=[DEPLOYMENT])
    return at(ModelDrifted.of(data, source=SOURCE), sequence)


def repaired(document: Document, sequence: int) -> Delivered:
    data = RepairedData(**ref(document, 1), objects=[DEPLOYMENT])
    return at(ModelRepaired.of(data, source=SOURCE), sequence)


def failed(
    document: Document,
    sequence: int,
    stage: Literal["command", "apply", "delete", "runtime"],
    reason: str,
    message: str = "",
    generation: int = 1,
) -> Delivered:
    data = FailedData(**ref(document, generation), stage=stage, reason=reason, message=message)
    return at(ModelFailed.of(data, source=SOURCE), sequence)


def deleted(document: Document, sequence: int) -> Delivered:
    return at(ModelDeleted.of(DeletedData(**ref(document, 2)), source=SOURCE), sequence)


Shown = tuple[str, str, str, int]
"""A condition as a test names it: status, reason, message, and the second it moved at."""
INITIAL: Final = {
    "Accepted": ("True", "Accepted", "generation 1 accepted", 0),
    "Applied": ("Unknown", "Pending", "", 0),
    "Available": ("Unknown", "Pending", "", 0),
    "Progressing": ("True", "NewGeneration", "generation 1 accepted", 0),
    "Degraded": ("Unknown", "Pending", "", 0),
}
"""As the create writes them: what its `accepted` event says is written with it."""


class Conditions:
    """The conditions a test expects, as a write stores them; `moved` names those an event
    moved, so each step says only what it changes."""

    def __init__(self) -> None:
        self.shown = dict(INITIAL)

    def moved(self, **moved: Shown) -> list[Document]:
        self.shown.update(moved)
        return [
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "last_transition_time": CREATED + timedelta(seconds=second),
            }
            for kind, (status, reason, message, second) in self.shown.items()
        ]


def read(document: Document) -> StoredModel:
    """The model as `by_public_ids` reads it."""
    return StoredModel.from_document(document)


def judge(document: Document, *events: Delivered) -> settling.ModelPlan:
    """The plan of a batch of the model's events."""
    plans = settling.plan({document["public_id"]: read(document)}, list(events), now=NOW)
    return plans[document["public_id"]]


def ignored(document: Document, *events: Delivered) -> bool:
    """The batch judges none of its events: it writes nothing."""
    model = judge(document, *events)
    return model.write is None and not model.judged


def settle(document: Document, *events: Delivered) -> Document | None:
    """What the batch writes to the model: the fields it sets; None when it writes nothing."""
    return written(document, judge(document, *events))


def written(document: Document, model: settling.ModelPlan) -> Document | None:
    """The fields `model`'s plan sets, applied to `document` as the registry would."""
    if model.write is None:
        return None
    assert model.write[0] is model.read  # guarded by the model as read
    changes = model.write[1]
    assert changes is not None
    # what the next event was judged against is what the next batch reads of the write
    assert model.state == settling.state_of(model.read.changed(changes))
    document.update(changes)
    return changes


def test_a_model_s_life_writes_exactly_these_fields() -> None:
    model, shown = created(), Conditions()
    one_up, two_up = "1/1 replicas ready", "2/2 replicas ready"
    up = "MinimumReplicasAvailable"
    runs = ("True", "NewReplicaSetAvailable", "generation 1 runs", 0)

    # accepted while creating moves no status, and the create wrote its conditions
    assert ignored(model, accepted(model, 1))
    assert settle(model, applied(model, 2)) == {
        "event_generation": 1,
        "event_sequence": 2,
        "status": "deploying",
        "status_reason": None,
        "updated_at": NOW,
        "conditions": shown.moved(
            Applied=("True", "Applied", "1 objects of generation 1", 2),
            Progressing=("True", "Applied", "waiting for a ready replica", 0),
        ),
        "observed_generation": 1,
        "conditions_sequence": 2,
    }
    # the first report of updated replicas is stored even when it is 0
    first_running = running(model, 3, (1, 1, 0))
    assert settle(model, first_running) == {
        "event_generation": 1,
        "event_sequence": 3,
        "status": "running",
        "status_reason": None,
        "replicas": 1,
        "ready_replicas": 1,
        "updated_at": NOW,
        "conditions": shown.moved(
            Available=("True", up, one_up, 3),
            Progressing=runs,
            Degraded=("False", "Running", one_up, 3),
        ),
        "updated_replicas": 0,
        "conditions_sequence": 3,
        # every replica ready, so every planned pod bound: the reservation is released
        **RELEASED,
    }
    # redelivered: stale by its sequence, nothing judged
    assert ignored(model, first_running)
    # several events of one model in one batch: their changes combined, the last one wins
    assert settle(
        model,
        scaled(model, 4, (2, 1, 1)),
        scaled(model, 5, (2, 2, 2)),
        degraded(model, 6, (2, 0, 2), "CrashLoopBackOff"),
    ) == {
        "event_generation": 1,
        "event_sequence": 6,
        "replicas": 2,
        "ready_replicas": 0,
        "status": "degraded",
        "status_reason": "CrashLoopBackOff: exit 1",
        "updated_at": NOW,
        "conditions": shown.moved(
            Available=("False", "CrashLoopBackOff", "exit 1", 6),
            Degraded=("True", "CrashLoopBackOff", "exit 1", 6),
        ),
        "updated_replicas": 2,
        "conditions_sequence": 6,
    }
    # a drift asks for a repair: the desired state again, same generation, next attempt
    repair = judge(model, drifted(model, 7))
    assert repair.repair
    changes = written(model, repair)
    assert changes is not None
    assert changes.pop("outbox") == {
        "msg_id": "mdl_000000000001:create:1:1",
        "command": stored()["outbox"]["command"]
        | {"cause": "repair", "attempt": 1, "issued_at": "2026-03-01T13:00:00Z"},
        "event": None,
        "due_at": NOW,
        "attempts": 0,
    }
    missing = "missing: Deployment/m"
    assert changes == {
        "event_generation": 1,
        "event_sequence": 7,
        "status_reason": "repairing: DeploymentMissing: Deployment/m",
        "updated_at": NOW,
        "repair_attempt": 1,
        "conditions": shown.moved(
            Applied=("False", "DeploymentMissing", missing, 7),
            Degraded=("True", "DeploymentMissing", missing, 6),
        ),
        "conditions_sequence": 7,
    }
    # the deployer's answer: applied (conditions only), repaired, then running
    assert settle(model, applied(model, 8), repaired(model, 9), running(model, 10, (2, 2, 2))) == {
        "event_generation": 1,
        "event_sequence": 10,
        "status": "running",
        "status_reason": None,
        "replicas": 2,
        "ready_replicas": 2,
        "updated_at": NOW,
        "conditions": shown.moved(
            Applied=("True", "Repaired", "generation 1 applied again", 8),
            Available=("True", up, two_up, 10),
            Degraded=("False", "Running", two_up, 9),
        ),
        "conditions_sequence": 10,
    }
    # two drifts in one batch: one write, the later attempt's command
    twice = written(model, judge(model, drifted(model, 11), drifted(model, 12)))
    assert twice is not None
    assert (twice["status"], twice["repair_attempt"], twice["event_sequence"]) == (
        "degraded",
        3,
        12,
    )
    assert twice["outbox"]["msg_id"] == "mdl_000000000001:create:1:3"
    assert settle(model, applied(model, 13), repaired(model, 14), running(model, 15, (2, 2, 2)))
    shown.moved(
        Applied=("True", "Repaired", "generation 1 applied again", 13),
        Degraded=("False", "Running", two_up, 14),
    )

    # a change (a PATCH): generation 2, updating
    model.update({"generation": 2, "status": "updating"})
    # an event of the older generation is stale
    assert ignored(model, failed(model, 16, "runtime", "OOMKilled", "exit 137"))
    # while updating, degraded (Recreate) moves the counts only
    assert settle(
        model,
        accepted(model, 17, generation=2),
        applied(model, 18, generation=2),
        degraded(model, 19, (2, 1, 1), "Recreate", generation=2),
    ) == {
        "event_generation": 2,
        "event_sequence": 19,
        "replicas": 2,
        "ready_replicas": 1,
        "conditions": shown.moved(
            Accepted=("True", "Accepted", "generation 2 accepted", 0),
            Applied=("True", "Applied", "1 objects of generation 2", 13),
            Progressing=("True", "Applied", "waiting for a ready replica", 0),
            Degraded=("True", "Recreate", "", 19),
        ),
        "observed_generation": 2,
        "updated_replicas": 1,
        "conditions_sequence": 19,
    }
    assert settle(
        model,
        running(model, 20, (2, 2, 2), generation=2),
        failed(model, 21, "runtime", "CrashLoopBackOff", "exit 1", generation=2),
    ) == {
        "event_generation": 2,
        "event_sequence": 21,
        "status": "failed",
        "status_reason": "CrashLoopBackOff: exit 1",
        "replicas": 2,
        "ready_replicas": 2,
        "updated_at": NOW,
        "conditions": shown.moved(
            Progressing=("False", "CrashLoopBackOff", "exit 1", 21),
            Degraded=("True", "CrashLoopBackOff", "exit 1", 21),
        ),
        "updated_replicas": 2,
        "conditions_sequence": 21,
    }


@pytest.mark.parametrize(
    ("status", "stage", "reason", "message"),
    [("creating", "command", "Invalid", "bad field"), ("deploying", "apply", "Forbidden", "")],
)
def test_a_failure_to_apply_is_written_with_its_reason(
    status: str, stage: Literal["command", "apply"], reason: str, message: str
) -> None:
    model = created(status=status)
    said = f"{reason}: {message}" if message else reason

    assert settle(model, failed(model, 5, stage, reason, message)) == {
        "event_generation": 1,
        "event_sequence": 5,
        "status": "failed",
        "status_reason": said,
        "updated_at": NOW,
        "conditions": Conditions().moved(
            Applied=("False", reason, message, 5), Progressing=("False", reason, message, 5)
        ),
        "observed_generation": 1,
        "conditions_sequence": 5,
        "reserved": False,  # a failed model's reservation holds nothing: out of the index
    }


def test_a_model_being_deleted_listens_to_its_delete_alone() -> None:
    model = created(status="deleting", generation=2, event_generation=1, event_sequence=3)

    assert ignored(model, running(model, 4, (1, 1, 1)))
    assert settle(model, failed(model, 5, "delete", "Timeout", "pvc", generation=2)) == {
        "event_generation": 2,
        "event_sequence": 5,
        "status_reason": "delete not finished: Timeout: pvc",
        "updated_at": NOW,
    }
    removal = judge(model, failed(model, 6, "delete", "Timeout", generation=2), deleted(model, 7))
    assert removal.write == (removal.read, None)
    assert [(j.status, j.removed) for j in removal.judged] == [(None, False), (None, True)]
    gone = judge(model, deleted(model, 7), running(model, 8, (1, 1, 1), generation=2))
    assert gone.write == (gone.read, None)
    assert len(gone.judged) == 1  # nothing applies once it is gone


def test_a_model_an_older_version_stored_is_judged_with_its_defaults() -> None:
    model = created(status="deploying")
    for field in ("event_generation", "event_sequence", "conditions"):
        del model[field]

    assert settle(model, running(model, 1, (1, 1, 0))) == {
        "event_generation": 1,
        "event_sequence": 1,
        "status": "running",
        "status_reason": None,
        "replicas": 1,
        "ready_replicas": 1,
        "updated_at": NOW,
        "conditions": Conditions().moved(
            Available=("True", "MinimumReplicasAvailable", "1/1 replicas ready", 1),
            Progressing=("True", "NewReplicaSetAvailable", "generation 1 runs", 1),
            Degraded=("False", "Running", "1/1 replicas ready", 1),
        ),
        "observed_generation": 1,
        "updated_replicas": 0,
        "conditions_sequence": 1,
        **RELEASED,
    }


def test_a_batch_of_several_models_writes_each_what_its_own_events_write() -> None:
    """Interleaved in one batch, each model's events are judged in order and apart; the
    events of a model no longer stored change nothing."""
    one, two, three = created(1), created(2), created(3, status="deploying")
    gone = created(4)
    batch = [
        accepted(one, 1),
        applied(two, 2),
        applied(one, 3),
        running(three, 4, (1, 1, 1)),
        running(gone, 5, (1, 1, 1)),
        degraded(two, 6, (1, 0, 1), "ImagePullBackOff"),
        running(one, 7, (1, 1, 1)),
        drifted(three, 8),
        failed(two, 9, "runtime", "CrashLoopBackOff"),
        scaled(one, 10, (3, 2, 3)),
    ]
    models = {document["public_id"]: read(document) for document in (one, two, three)}

    plans = settling.plan(models, batch, now=NOW)

    assert list(plans) == [one["public_id"], two["public_id"], three["public_id"]]
    for document in (one, two, three):
        own = [event for event in batch if event[0].data.public_id == document["public_id"]]
        alone = judge(document, *own)
        model = plans[document["public_id"]]
        assert (model.changes, model.repair) == (alone.changes, alone.repair)
        assert [judged.status for judged in model.judged] == [
            judged.status for judged in alone.judged
        ]
    assert plans[three["public_id"]].repair
    assert plans[one["public_id"]].changes["event_sequence"] == 10
    assert plans[two["public_id"]].changes["status"] == "failed"


def test_the_reservation_is_released_by_the_write_that_shows_every_replica_ready() -> None:
    """Running with a replica not ready keeps it (the admissions release it once its pods
    show bound); the counts reaching every replica release it; released once."""
    model = created(status="deploying", replicas=2, reservation=[ON_NODE_A, ON_NODE_A])
    partly = settle(model, running(model, 1, (2, 1, 2)))
    assert partly is not None
    assert "reserved" not in partly
    assert settle(model, scaled(model, 2, (2, 2, 2)))
    assert (model["reserved"], model["released_at"]) == (False, NOW + RELEASE_GRACE)
    again = settle(model, degraded(model, 3, (2, 1, 2), "Unhealthy"), running(model, 4, (2, 2, 2)))
    assert again is not None
    assert "released_at" not in again


def test_a_readmitted_model_keeps_its_new_reservation_until_its_generation_runs() -> None:
    """A change that adds GPUs plans anew at generation 2: the old generation's pods all
    ready say nothing of the new plan's; generation 2 running with every replica does."""
    model = created(status="updating", generation=2, event_generation=1, event_sequence=4)
    assert ignored(model, running(model, 5, (1, 1, 1), generation=1))
    changes = settle(model, running(model, 6, (2, 2, 2), generation=2))
    assert changes is not None
    assert (changes["status"], changes["reserved"]) == ("running", False)


def test_an_autoscaled_model_keeps_its_reservation_until_the_planned_replicas_are_ready() -> None:
    """Its Deployment starts at one replica (the autoscaler owns the count): one of one
    ready is not the two replicas the admission planned."""
    model = created(status="deploying", reservation=[ON_NODE_A, ON_NODE_A])
    first = settle(model, running(model, 1, (1, 1, 1)))
    assert first is not None
    assert "reserved" not in first
    scaled_up = settle(model, scaled(model, 2, (2, 2, 2)))
    assert scaled_up is not None
    assert scaled_up["reserved"] is False


def test_a_rollout_s_surge_pod_does_not_keep_the_reservation_once_its_generation_runs() -> None:
    """A readmission that rolls plans the replicas and one surge pod (marked); running at
    that generation with every replica ready, the surge pod is gone: released."""
    fields = reservation_fields([("node-a", 1), ("node-a", 1)], surge=1)
    assert fields["reservation"] == [ON_NODE_A, ON_NODE_A | {"surge": True}]
    model = created(status="updating", generation=2, event_generation=1, event_sequence=4, **fields)
    changes = settle(model, running(model, 5, (1, 1, 1), generation=2))
    assert changes is not None
    assert (changes["reserved"], changes["released_at"]) == (False, NOW + RELEASE_GRACE)


def test_a_create_writes_what_accepted_says_and_updated_moves_the_conditions_once() -> None:
    """A create stores what its `accepted` derives (nothing can come before it), so the
    event writes nothing; a change's `updated` writes its own (the api's write of a change
    could overwrite what an event of the old generation wrote meanwhile). Either, told
    again after the cluster reported on the generation (a re-publish once JetStream's
    duplicate window has passed), changes nothing."""
    model = created()
    assert ignored(model, accepted(model, 1))
    assert ignored(model, accepted(model, 2))  # and again, redelivered
    shown = Conditions()

    when = CREATED + timedelta(seconds=5)
    model |= {"generation": 2, "status": "updating"}
    assert settle(model, updated(model, 3, generation=2, time=when)) == {
        "event_generation": 2,
        "event_sequence": 3,
        "conditions": shown.moved(
            Accepted=("True", "Accepted", "generation 2 accepted", 0),
            Progressing=("True", "NewGeneration", "generation 2 accepted", 0),
        ),
        "conditions_sequence": 3,
    }
    assert settle(model, applied(model, 4, generation=2))
    assert ignored(model, updated(model, 5, generation=2, time=when))
    assert ignored(model, accepted(model, 6, generation=1))

    # settled after the cluster's report (a redelivery), `updated` changes nothing: the
    # change itself set Accepted in place, so it does not keep naming generation 2
    model |= {"generation": 3, "status": "updating"}
    index = int(ACCEPTED_CONDITION.split(".")[1])
    model["conditions"][index] = accepted_condition(read(model), generation=3, now=when)
    assert settle(model, applied(model, 7, generation=3))
    assert ignored(model, updated(model, 8, generation=3, time=when))
    assert model["conditions"][index]["message"] == "generation 3 accepted"
