"""A model's conditions and observed generation, derived from its events, as pure data.

Kubernetes-style conditions (`type`, `status` True/False/Unknown, `reason`, `message`,
`last_transition_time`), five types:

- `Accepted`: the api accepted the generation (`accepted`, `updated`). A create writes
  what its `accepted` says with the model itself (no event can come before it), so the
  event changes nothing more when it comes back; a change's `updated` writes them. Either,
  told again once the cluster reported on its generation (a re-publish after JetStream's
  duplicate window), changes nothing.
- `Applied`: the deployer applied its objects (`applied`, `repaired`), or could not
  (`failed` at the command or the apply), or they vanished (`drifted`).
- `Available`: at least one replica is ready (`running`), or none is (`degraded`, and a
  `failed` that counts no ready replica or comes while none was available).
- `Progressing`: a generation is on its way (True, `NewGeneration`/`Applied`), got there
  (True, `NewReplicaSetAvailable`), or cannot (False, the failure's reason).
- `Degraded`: something is wrong with what runs (`degraded`, `failed` at run time,
  `drifted`), or nothing is (`running`, `repaired`).

As in Kubernetes, `last_transition_time` (the event's time) moves only when `status` changes; a reason or
message may change without it. Events of an older generation than the model's, and
events already applied (by stream sequence), change nothing: the consumer may see an
event twice. `observed_generation` is the newest generation the deployer or the
inventory reported on.
"""

from datetime import datetime
from typing import Any, Final, Literal

from services.api import transitions
from shared.events import (
    AppliedData,
    DegradedData,
    DriftedData,
    FailedData,
    ModelEvent,
    ReplicaCounts,
)
from shared.names import EventType

TYPES: Final = ("Accepted", "Applied", "Available", "Progressing", "Degraded")
Status = Literal["True", "False", "Unknown"]
Condition = dict[str, Any]
#: events that say what the cluster did with a generation (not the api's own)
_OBSERVING: Final = frozenset(
    {
        EventType.APPLIED,
        EventType.RUNNING,
        EventType.DEGRADED,
        EventType.FAILED,
        EventType.SCALED,
        EventType.REPAIRED,
    }
)


def initial(*, created: datetime | None, generation: int) -> list[Condition]:
    """Before any event: accepted at creation, nothing known yet about the rest."""
    conditions = [_condition(t, "Unknown", "Pending", "", created) for t in TYPES]
    conditions[0] = _condition(
        "Accepted", "True", "Accepted", f"generation {generation} accepted", created
    )
    return conditions


def accepted(before: list[Condition], *, generation: int, at: datetime) -> list[Condition]:
    """`before` once the api accepted `generation` at `at` (the `accepted` or `updated`
    event's time): what those events derive, and what a create writes with the model."""
    after = {c["type"]: c for c in before}
    message = f"generation {generation} accepted"
    for kind, reason in (("Accepted", "Accepted"), ("Progressing", "NewGeneration")):
        previous = after[kind]
        when = at if previous["status"] != "True" else previous["last_transition_time"]
        after[kind] = _condition(kind, "True", reason, message, when)
    return [after[t] for t in TYPES]


def conditions_of(model: transitions.ModelState) -> list[Condition]:
    if model.conditions:
        return list(model.conditions)
    return initial(created=model.created_at, generation=model.generation)


def derive(model: transitions.ModelState, event: ModelEvent, *, sequence: int) -> dict[str, Any]:
    """The fields to set on the model for `event` (empty when it changes nothing)."""
    data = event.data
    if model.status is transitions.Status.DELETING or sequence <= model.conditions_sequence:
        return {}
    if data.generation < model.generation:
        return {}
    at = event.time
    before = conditions_of(model)
    after = {c["type"]: c for c in before}

    def put(kind: str, status: Status, reason: str, message: str = "") -> None:
        previous = after[kind]
        moved = previous["status"] != status
        when = at if moved else previous["last_transition_time"]
        after[kind] = _condition(kind, status, reason, message, when)

    generation = data.generation
    match event.event_type:
        case EventType.ACCEPTED | EventType.UPDATED if generation > model.observed_generation:
            written = accepted([after[t] for t in TYPES], generation=generation, at=at)
            after.update((c["type"], c) for c in written)
        case EventType.APPLIED:
            count = len(data.objects) if isinstance(data, AppliedData) else 0
            put("Applied", "True", "Applied", f"{count} objects of generation {generation}")
            if after["Progressing"]["reason"] != "NewReplicaSetAvailable":
                put("Progressing", "True", "Applied", "waiting for a ready replica")
        case EventType.RUNNING:
            counts = _counts(data)
            put("Available", "True", "MinimumReplicasAvailable", counts)
            put("Progressing", "True", "NewReplicaSetAvailable", f"generation {generation} runs")
            put("Degraded", "False", "Running", counts)
        case EventType.DEGRADED if isinstance(data, DegradedData):
            if data.ready_replicas == 0:
                put("Available", "False", data.reason, data.message)
            put("Degraded", "True", data.reason, data.message)
        case EventType.FAILED if isinstance(data, FailedData):
            if data.stage in ("command", "apply"):
                put("Applied", "False", data.reason, data.message)
                put("Progressing", "False", data.reason, data.message)
            elif data.stage == "runtime":
                put("Progressing", "False", data.reason, data.message)
                put("Degraded", "True", data.reason, data.message)
                if data.ready_replicas == 0 or after["Available"]["status"] != "True":
                    put("Available", "False", data.reason, data.message)
        case EventType.SCALED if isinstance(data, ReplicaCounts) and data.ready_replicas > 0:
            put("Available", "True", "MinimumReplicasAvailable", _counts(data))
        case EventType.DRIFTED if isinstance(data, DriftedData):
            missing = ", ".join(f"{ref.kind}/{ref.name}" for ref in data.missing)
            put("Applied", "False", data.reason, f"missing: {missing}")
            put("Degraded", "True", data.reason, f"missing: {missing}")
        case EventType.REPAIRED:
            put("Applied", "True", "Repaired", f"generation {generation} applied again")
            put("Degraded", "False", "Repaired")
        case _:
            pass
    changes: dict[str, Any] = {}
    conditions = [after[t] for t in TYPES]
    if conditions != before:
        changes["conditions"] = conditions
    if event.event_type in _OBSERVING and generation > model.observed_generation:
        changes["observed_generation"] = generation
    updated = data.updated_replicas if isinstance(data, ReplicaCounts) else None
    if updated is not None and updated != model.updated_replicas:
        changes["updated_replicas"] = updated
    if changes:
        changes["conditions_sequence"] = sequence
    return changes


def _counts(data: object) -> str:
    if not isinstance(data, ReplicaCounts):
        return ""
    return f"{data.ready_replicas}/{data.replicas} replicas ready"


def _condition(
    kind: str, status: Status, reason: str, message: str, when: datetime | None
) -> Condition:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "last_transition_time": when,
    }
