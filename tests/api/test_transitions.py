"""The status state machine: forward only, in event order."""

import pytest

from services.api.transitions import Action, ModelState, ObservedEvent, Status, next_state
from shared.names import EventType


def state(status: Status, *, generation: int = 1, seen: tuple[int, int] = (0, 0)) -> ModelState:
    return ModelState(status, generation, event_generation=seen[0], event_sequence=seen[1])


def event(
    kind: EventType, *, generation: int = 1, sequence: int = 10, **fields: object
) -> ObservedEvent:
    return ObservedEvent(type=kind, generation=generation, sequence=sequence, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "kind", "after"),
    [
        (Status.CREATING, EventType.APPLIED, Status.DEPLOYING),
        (Status.DEPLOYING, EventType.RUNNING, Status.RUNNING),
        (Status.CREATING, EventType.RUNNING, Status.RUNNING),
        (Status.RUNNING, EventType.DEGRADED, Status.DEGRADED),
        (Status.DEGRADED, EventType.RUNNING, Status.RUNNING),
        (Status.DEPLOYING, EventType.FAILED, Status.FAILED),
        (Status.RUNNING, EventType.FAILED, Status.FAILED),
    ],
)
def test_forward_transitions(before: Status, kind: EventType, after: Status) -> None:
    transition = next_state(state(before), event(kind, reason="R"))
    assert transition.action is Action.UPDATE
    assert transition.status is after


def test_applied_does_not_move_a_running_model_back() -> None:
    transition = next_state(state(Status.RUNNING), event(EventType.APPLIED))
    assert transition.status is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (Status.CREATING, EventType.ACCEPTED),
        (Status.RUNNING, EventType.APPLIED),
        (Status.DEGRADED, EventType.REPAIRED),
    ],
)
def test_an_event_that_changes_nothing_writes_nothing(status: Status, kind: EventType) -> None:
    assert next_state(state(status), event(kind)).action is Action.IGNORE


def test_an_older_generation_is_ignored() -> None:
    transition = next_state(
        state(Status.RUNNING, generation=2), event(EventType.FAILED, generation=1)
    )
    assert transition.action is Action.IGNORE


def test_an_earlier_sequence_of_the_same_generation_is_ignored() -> None:
    seen = state(Status.RUNNING, seen=(1, 20))
    assert next_state(seen, event(EventType.DEGRADED, sequence=19)).action is Action.IGNORE
    assert next_state(seen, event(EventType.DEGRADED, sequence=20)).action is Action.IGNORE
    assert next_state(seen, event(EventType.DEGRADED, sequence=21)).status is Status.DEGRADED


def test_a_newer_generation_counts_whatever_its_sequence() -> None:
    seen = state(Status.DEGRADED, generation=2, seen=(1, 50))
    assert (
        next_state(seen, event(EventType.RUNNING, generation=2, sequence=5)).status
        is Status.RUNNING
    )


def test_deleting_is_moved_only_by_deleted() -> None:
    deleting = state(Status.DELETING, generation=2)
    for kind in (EventType.RUNNING, EventType.APPLIED, EventType.DRIFTED):
        assert next_state(deleting, event(kind, generation=2, sequence=99)).action is Action.IGNORE
    assert next_state(deleting, event(EventType.FAILED, generation=2)).status is None
    assert next_state(deleting, event(EventType.DELETED, generation=2)).action is Action.REMOVE


def test_a_failed_delete_says_why_the_model_is_still_deleting() -> None:
    deleting = state(Status.DELETING, generation=2)

    transition = next_state(
        deleting,
        event(EventType.FAILED, generation=2, reason="Forbidden", message="pvc delete refused"),
    )

    assert transition.action is Action.UPDATE
    assert transition.status is None  # still deleting: the deployer tries again
    assert transition.status_reason == "delete not finished: Forbidden: pvc delete refused"


def test_a_failed_apply_of_the_generation_before_the_delete_says_nothing() -> None:
    deleting = state(Status.DELETING, generation=2)

    assert next_state(deleting, event(EventType.FAILED, generation=1)).action is Action.IGNORE


def test_deleted_for_a_model_not_being_deleted_does_not_remove_it() -> None:
    assert next_state(state(Status.RUNNING), event(EventType.DELETED)).action is not Action.REMOVE


def test_failed_records_reason_and_message() -> None:
    transition = next_state(
        state(Status.DEPLOYING),
        event(EventType.FAILED, reason="ImagePullBackOff", message="no such image"),
    )
    assert transition.status_reason == "ImagePullBackOff: no such image"


def test_running_clears_the_reason_and_records_replicas() -> None:
    transition = next_state(
        state(Status.DEGRADED), event(EventType.RUNNING, replicas=2, ready_replicas=1)
    )
    assert (transition.status_reason, transition.replicas, transition.ready_replicas) == ("", 2, 1)


def test_scaled_updates_replicas_only() -> None:
    transition = next_state(
        state(Status.RUNNING), event(EventType.SCALED, replicas=3, ready_replicas=3)
    )
    assert (transition.status, transition.replicas) == (None, 3)


def test_degraded_does_not_overwrite_failed() -> None:
    assert next_state(state(Status.FAILED), event(EventType.DEGRADED, reason="x")).status is None


def test_drifted_asks_for_a_repair() -> None:
    transition = next_state(
        state(Status.RUNNING), event(EventType.DRIFTED, reason="DeploymentMissing")
    )
    assert transition.action is Action.REPAIR
    assert transition.status is Status.DEGRADED


def test_updating_waits_for_its_generation_to_run() -> None:
    updating = state(Status.UPDATING, generation=2, seen=(1, 40))
    assert next_state(updating, event(EventType.APPLIED, generation=2)).status is None
    assert next_state(updating, event(EventType.UPDATED, generation=2)).status is None
    stale = next_state(updating, event(EventType.RUNNING, generation=1, sequence=50))
    assert stale.action is Action.IGNORE
    running = next_state(updating, event(EventType.RUNNING, generation=2, sequence=50))
    assert running.status is Status.RUNNING


def test_degraded_while_updating_moves_only_the_counts() -> None:
    updating = state(Status.UPDATING, generation=2, seen=(2, 40))
    transition = next_state(
        updating,
        event(EventType.DEGRADED, generation=2, sequence=41, replicas=1, ready_replicas=0),
    )
    assert transition.status is None
    assert transition.ready_replicas == 0


def test_a_new_generation_that_cannot_run_fails_and_an_old_failure_does_not_count() -> None:
    updating = state(Status.UPDATING, generation=2, seen=(1, 40))
    old = next_state(updating, event(EventType.FAILED, generation=1, sequence=41, reason="X"))
    assert old.action is Action.IGNORE
    new = next_state(
        updating, event(EventType.FAILED, generation=2, sequence=42, reason="ImagePullBackOff")
    )
    assert (new.status, new.status_reason) == (Status.FAILED, "ImagePullBackOff")
