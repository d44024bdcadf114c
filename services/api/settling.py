"""What a batch of model events does to the models as read, as pure functions.

The status consumer fetches events, reads every model they name, and asks `plan` what to
write; it writes every model's combined changes under the guard of the model as read.
Each event is judged by `transitions.next_state` against its model as the earlier events
of the batch left it (stream order), and what it says of conditions (`conditions.derive`)
goes with it. What the earlier events left is a `ModelState`: the few fields judging
reads and moves, made from the model as read and again for each event that changed it,
while the model as read stays as it is (the guard, and what a repair re-applies). A
single event is a batch of one: there is no other path.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.api.admission import release_fields
from services.api.conditions import derive
from services.api.documents import repair_entry
from services.api.records import StoredModel
from services.api.transitions import (
    Action,
    ModelState,
    ObservedEvent,
    Status,
    Transition,
    next_state,
)
from shared.events import DegradedData, DriftedData, FailedData, ModelEvent, ReplicaCounts


def observe(event: ModelEvent, *, sequence: int) -> ObservedEvent:
    """What `transitions.next_state` reads of an event. Made once per event, so
    positionally (in `ObservedEvent`'s field order), as `moved` makes a state."""
    data = event.data
    reason = message = ""
    if isinstance(data, DegradedData | FailedData):
        reason, message = data.reason, data.message
    elif isinstance(data, DriftedData):
        missing = ", ".join(f"{ref.kind}/{ref.name}" for ref in data.missing)
        reason, message = data.reason, missing
    counts = data if isinstance(data, ReplicaCounts | FailedData) else None
    return ObservedEvent(
        event.event_type,
        data.generation,
        sequence,
        reason,
        message,
        counts.replicas if counts else None,
        counts.ready_replicas if counts else None,
    )


def state_of(model: StoredModel) -> ModelState:
    """What judging reads of the model as read (positionally, as `moved` makes one)."""
    record = model.record
    return ModelState(
        Status(record.status),
        record.generation,
        model.event_generation,
        model.event_sequence,
        record.created_at,
        record.conditions,
        model.conditions_sequence,
        record.observed_generation,
        record.updated_replicas,
        model.repair_attempt,
    )


def moved(state: ModelState, status: Status | None, changes: Mapping[str, Any]) -> ModelState:
    """The state one judged event leaves: the status its transition set (None: as it was)
    and its `changes` as written (they always say how far the events were applied); what
    `state_of` reads of the model they leave.

    Made once per event, so positionally (in `ModelState`'s field order): a frozen
    dataclass built from keywords takes a quarter longer."""
    get = changes.get
    conditions = get("conditions")
    return ModelState(
        state.status if status is None else status,
        state.generation,
        changes["event_generation"],
        changes["event_sequence"],
        state.created_at,
        state.conditions if conditions is None else tuple(conditions),
        get("conditions_sequence", state.conditions_sequence),
        get("observed_generation", state.observed_generation),
        get("updated_replicas", state.updated_replicas),
        get("repair_attempt", state.repair_attempt),
    )


def transition_changes(
    model: StoredModel,
    state: ModelState,
    transition: Transition,
    *,
    event_generation: int,
    event_sequence: int,
    now: datetime,
) -> dict[str, Any]:
    """The fields one transition sets on the model as `state` holds it; a repair
    re-applies `model`'s desired state (no event changes it)."""
    changes: dict[str, Any] = {
        "event_generation": event_generation,
        "event_sequence": event_sequence,
    }
    if transition.status is not None:
        changes["status"] = transition.status.value
    if transition.status_reason is not None:
        changes["status_reason"] = transition.status_reason or None
    if transition.replicas is not None:
        changes["replicas"] = transition.replicas
    if transition.ready_replicas is not None:
        changes["ready_replicas"] = transition.ready_replicas
    if transition.status is not None or transition.status_reason is not None:
        changes["updated_at"] = now
    if transition.action == "repair":
        attempt = state.repair_attempt + 1
        changes["repair_attempt"] = attempt
        changes["updated_at"] = now
        changes["outbox"] = repair_entry(
            model, generation=state.generation, now=now, attempt=attempt
        )
    return changes


@dataclass(frozen=True, slots=True)
class Judged:
    """One event that changed its model: for the log."""

    event: ModelEvent
    status: Status | None
    """The status it set; None when it set none (conditions or counts only), or removed it."""
    removed: bool = False


@dataclass
class ModelPlan:
    """What one batch does to one model: `read` is the guard, `state` what its events left
    for the next one to be judged against, `changes` what the batch sets."""

    read: StoredModel
    state: ModelState
    changes: dict[str, Any] = field(default_factory=dict)
    remove: bool = False
    repair: bool = False
    """The batch asked for a repair: its entry is the `outbox` the changes set."""
    judged: list[Judged] = field(default_factory=list)

    @property
    def write(self) -> tuple[StoredModel, dict[str, Any] | None] | None:
        """(the model as read, the fields to set or None to remove it); None: no write."""
        if self.remove:
            return self.read, None
        return (self.read, self.changes) if self.changes else None


def plan(
    models: dict[str, StoredModel],
    events: list[tuple[ModelEvent, int]],
    *,
    now: datetime,
) -> dict[str, ModelPlan]:
    """Per public id, what `events` (each with its stream sequence, in stream order) do to
    the models as read; events of models not in `models` (gone) change nothing."""
    plans: dict[str, ModelPlan] = {}
    for event, sequence in events:
        public_id = event.data.public_id
        model = plans.get(public_id)
        if model is None:
            read = models.get(public_id)
            if read is None:
                continue
            model = plans[public_id] = ModelPlan(read=read, state=state_of(read))
        if model.remove:
            continue  # gone by then: nothing else applies
        observed = observe(event, sequence=sequence)
        transition = next_state(model.state, observed)
        observation = derive(model.state, event, sequence=sequence)
        if transition.action is Action.IGNORE:
            if not observation:
                continue
            transition = Transition(Action.UPDATE)  # conditions only
        if transition.action is Action.REMOVE:
            model.remove = True  # the removal guard holds only while it is deleting
            model.judged.append(Judged(event, None, removed=True))
            continue
        changes = (
            transition_changes(
                model.read,
                model.state,
                transition,
                event_generation=observed.generation,
                event_sequence=sequence,
                now=now,
            )
            | observation
        )
        model.state = moved(model.state, transition.status, changes)
        model.changes.update(changes)
        model.repair = model.repair or transition.action is Action.REPAIR
        model.judged.append(Judged(event, transition.status))
    for model in plans.values():
        if model.changes:
            model.changes.update(released(model, now=now))
    return plans


def released(model: ModelPlan, *, now: datetime) -> dict[str, Any]:
    """What releases the model's reservation with the batch's write, when its events
    show that it holds nothing any more: running at its current generation with as many
    replicas ready as the reservation planned (one entry a replica; a rollout's surge
    pod, marked, is gone by then), so every pod it planned for is bound; or failed (a
    failed model's reservation counts nothing; this takes it out of the index).
    Otherwise the admissions release it once the status shows its pods bound.

    Planned, not the Deployment's `replicas`: an autoscaled model's Deployment starts at
    one replica and its autoscaler owns the count, so `ready >= replicas` can hold before
    the replicas the admission planned exist."""
    record = model.read.record
    if not record.reserved or record.released_at is not None:
        return {}
    state, changes = model.state, model.changes
    if state.status is Status.FAILED:
        return {"reserved": False}
    ready = changes.get("ready_replicas")
    if (
        state.status is Status.RUNNING
        and state.event_generation == state.generation
        and ready is not None
        and ready >= sum(1 for entry in record.reservation if not entry.surge)
    ):
        return release_fields(now=now)
    return {}
