"""How an event moves a managed model's status, as a pure function.

creating -> deploying (applied) -> running <-> degraded; failed (with a reason);
deleting -> removed (deleted). A change to what runs (a PATCH, a restart) bumps the
generation and sets `updating` (the api writes it with the change); `running` of that
generation ends it, `failed` of it ends it too. While `updating`, `degraded` (Recreate
takes the old pods away first) keeps the status and only the replica counts move. Status only moves forward in event order: an event of an
older generation is stale, and within one generation the stream sequence orders events.
A model being deleted listens to nothing but `deleted`, which removes it, and its
delete's `failed`, which says why it is not finished yet (it stays `deleting`: the
deployer tries again until nothing is left). `drifted` asks for a repair: the caller
re-publishes the desired state of the same generation (nothing that runs changes), and
the inventory tells the model's state again once the objects are back.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.names import EventType


class Status(StrEnum):
    CREATING = "creating"
    DEPLOYING = "deploying"
    RUNNING = "running"
    DEGRADED = "degraded"
    FAILED = "failed"
    DELETING = "deleting"
    UPDATING = "updating"


class Action(StrEnum):
    IGNORE = "ignore"
    UPDATE = "update"
    REMOVE = "remove"
    REPAIR = "repair"


@dataclass(frozen=True, slots=True)
class ModelState:
    """A model as the judging of its events reads and moves it: what `next_state` reads
    (its status, generation and how far its events were applied), and what
    `conditions.derive` reads and the next event's judging may move (conditions, counts,
    repairs). Small on purpose: settling makes one from the model as read, and another
    for each event that changes it, where copying the whole model would cost more than
    judging the event."""

    status: Status
    generation: int
    event_generation: int = 0
    event_sequence: int = 0
    created_at: datetime | None = None
    """When the conditions start, before any event set one."""
    conditions: tuple[dict[str, Any], ...] = ()
    """As stored (see `records.ModelRecord.conditions`)."""
    conditions_sequence: int = 0
    observed_generation: int = 0
    updated_replicas: int | None = None
    """None while no event reported it (a first report of 0 is a change)."""
    repair_attempt: int = 0


@dataclass(frozen=True, slots=True)
class ObservedEvent:
    type: EventType
    generation: int
    sequence: int
    reason: str = ""
    message: str = ""
    replicas: int | None = None
    ready_replicas: int | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    status: Status | None = None
    status_reason: str | None = None
    """None keeps the current reason; "" clears it."""
    replicas: int | None = None
    ready_replicas: int | None = None


IGNORE = Transition(Action.IGNORE)
_DEGRADABLE = frozenset({Status.CREATING, Status.DEPLOYING, Status.RUNNING})


def next_state(state: ModelState, event: ObservedEvent) -> Transition:
    if state.status is Status.DELETING:
        if event.type is EventType.DELETED:
            return Transition(Action.REMOVE)
        if event.type is EventType.FAILED and not _is_stale(state, event):
            return Transition(Action.UPDATE, status_reason=f"delete not finished: {_reason(event)}")
        return IGNORE
    if _is_stale(state, event):
        return IGNORE
    match event.type:
        case EventType.APPLIED if state.status is Status.CREATING:
            return Transition(Action.UPDATE, status=Status.DEPLOYING, status_reason="")
        case EventType.RUNNING:
            return _counted(event, Status.RUNNING, "")
        case EventType.DEGRADED if state.status in _DEGRADABLE:
            return _counted(event, Status.DEGRADED, _reason(event))
        case EventType.FAILED:  # the running pods' failure says how many are still ready
            return _counted(event, Status.FAILED, _reason(event))
        case EventType.SCALED | EventType.DEGRADED:
            return Transition(
                Action.UPDATE, replicas=event.replicas, ready_replicas=event.ready_replicas
            )
        case EventType.DRIFTED:
            return Transition(
                Action.REPAIR,
                status=Status.DEGRADED if state.status is Status.RUNNING else None,
                status_reason=f"repairing: {_reason(event)}",
            )
        case _:
            # Nothing to show (e.g. `accepted` while creating, `applied` while running): no
            # write at all. Skipping its sequence is safe: events arrive in stream order and
            # this one changed nothing a later comparison could depend on.
            return IGNORE


def _counted(event: ObservedEvent, status: Status, reason: str) -> Transition:
    """A new status and reason, with the replica counts the event carries (if any)."""
    return Transition(
        Action.UPDATE,
        status=status,
        status_reason=reason,
        replicas=event.replicas,
        ready_replicas=event.ready_replicas,
    )


def _is_stale(state: ModelState, event: ObservedEvent) -> bool:
    if event.generation < state.generation:
        return True
    return event.generation == state.event_generation and event.sequence <= state.event_sequence


def _reason(event: ObservedEvent) -> str:
    return f"{event.reason}: {event.message}" if event.message else event.reason
