"""What a batch of model events does to the models as read, as pure functions.

The status consumer fetches events, reads every model they name, and asks `plan` what to
write; it writes every model's combined changes under the guard of the model as read.
Each event is judged by `transitions.next_state` against its model as the earlier events
of the batch left it (stream order), and what it says of conditions (`conditions.derive`)
goes with it. A single event is a batch of one: there is no other path.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.api.conditions import derive
from services.api.documents import repair_entry
from services.api.transitions import (
    Action,
    ModelState,
    ObservedEvent,
    Status,
    Transition,
    next_state,
)
from shared.events import DegradedData, DriftedData, FailedData, ModelEvent, ReplicaCounts
from shared.records import Document


def observe(event: ModelEvent, *, sequence: int) -> ObservedEvent:
    """What `transitions.next_state` reads of an event."""
    data = event.data
    reason = message = ""
    if isinstance(data, DegradedData | FailedData):
        reason, message = data.reason, data.message
    elif isinstance(data, DriftedData):
        missing = ", ".join(f"{ref.kind}/{ref.name}" for ref in data.missing)
        reason, message = data.reason, missing
    counts = data if isinstance(data, ReplicaCounts | FailedData) else None
    return ObservedEvent(
        type=event.event_type,
        generation=data.generation,
        sequence=sequence,
        reason=reason,
        message=message,
        replicas=counts.replicas if counts else None,
        ready_replicas=counts.ready_replicas if counts else None,
    )


def state_of(document: Document) -> ModelState:
    return ModelState(
        status=Status(document["status"]),
        generation=document["generation"],
        event_generation=document.get("event_generation", 0),
        event_sequence=document.get("event_sequence", 0),
    )


def transition_changes(
    document: Document,
    transition: Transition,
    *,
    event_generation: int,
    event_sequence: int,
    now: datetime,
) -> dict[str, Any]:
    """The fields one transition sets on the model as `document` holds it."""
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
        attempt = document.get("repair_attempt", 0) + 1
        changes["repair_attempt"] = attempt
        changes["updated_at"] = now
        changes["outbox"] = repair_entry(
            document, generation=document["generation"], now=now, attempt=attempt
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
    """What one batch does to one model: `read` is the guard, `current` what it becomes."""

    read: Document
    current: Document
    changes: dict[str, Any] = field(default_factory=dict)
    remove: bool = False
    repair: bool = False
    judged: list[Judged] = field(default_factory=list)

    @property
    def write(self) -> tuple[Document, Document | None] | None:
        """(the model as read, the fields to set or None to remove it); None: no write."""
        if self.remove:
            return self.read, None
        return (self.read, self.changes) if self.changes else None


def plan(
    documents: dict[str, Document],
    events: list[tuple[ModelEvent, int]],
    *,
    now: datetime,
) -> dict[str, ModelPlan]:
    """Per public id, what `events` (each with its stream sequence, in stream order) do to
    the models as read; events of models not in `documents` (gone) change nothing."""
    plans: dict[str, ModelPlan] = {}
    for event, sequence in events:
        document = documents.get(event.data.public_id)
        if document is None:
            continue
        model = plans.setdefault(event.data.public_id, ModelPlan(read=document, current=document))
        if model.remove:
            continue  # gone by then: nothing else applies
        observed = observe(event, sequence=sequence)
        transition = next_state(state_of(model.current), observed)
        observation = derive(model.current, event, sequence=sequence)
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
                model.current,
                transition,
                event_generation=observed.generation,
                event_sequence=sequence,
                now=now,
            )
            | observation
        )
        model.current = model.current | changes
        model.changes.update(changes)
        model.repair = model.repair or transition.action is Action.REPAIR
        model.judged.append(Judged(event, transition.status))
    return plans
