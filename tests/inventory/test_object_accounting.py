"""`account_objects`: which vanished objects of a model are drift (pure, no servers)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.inventory.emissions import ModelIdentity, ModelMemory, account_objects
from services.inventory.objects import OwnedRef
from shared.events import ModelDrifted

T0 = datetime(2026, 12, 1, tzinfo=UTC)
GRACE = timedelta(seconds=1)
KNOWN = frozenset({"Service", "Secret", "PersistentVolumeClaim"})
IDENTITY = ModelIdentity(
    organization_id=1,
    model_id=2,
    public_id="mdl_abcdefabcdef",
    name="m",
    namespace="jan-models",
    generation=2,
)
SERVICE = OwnedRef("Service", "m", "v1", 2)
CLAIM = OwnedRef("PersistentVolumeClaim", "m-cache", "v1", 2)
MEMORY = ModelMemory(
    "mdl_abcdefabcdef", identity=IDENTITY, state="running", present=True, owned=(CLAIM, SERVICE)
)


def test_a_vanished_object_is_drift_only_after_the_grace_and_forgets_the_state() -> None:
    first = account_objects(MEMORY, present=[CLAIM], known_kinds=KNOWN, now=T0, grace=GRACE)
    assert first.decision.events == []
    assert first.decision.memory.missing_since == T0
    later = account_objects(
        first.decision.memory, present=[CLAIM], known_kinds=KNOWN, now=T0 + GRACE, grace=GRACE
    )
    [event] = later.decision.events
    assert isinstance(event, ModelDrifted)
    assert [(r.kind, r.name) for r in event.data.missing] == [("Service", "m")]
    assert event.data.reason == "ServiceMissing"
    assert later.decision.memory.state == "none"
    assert later.decision.memory.owned == (CLAIM,)
    back = account_objects(
        later.decision.memory, present=[CLAIM, SERVICE], known_kinds=KNOWN, now=T0, grace=GRACE
    )
    assert back.appeared
    assert back.decision.events == []


def test_back_within_the_grace_is_no_drift() -> None:
    first = account_objects(MEMORY, present=[CLAIM], known_kinds=KNOWN, now=T0, grace=GRACE)
    back = account_objects(
        first.decision.memory, present=[CLAIM, SERVICE], known_kinds=KNOWN, now=T0, grace=GRACE
    )
    assert back.decision.memory.missing_since is None
    assert back.decision.events == []


def test_an_object_of_an_older_generation_was_pruned_not_drifted() -> None:
    old = replace(MEMORY, owned=(CLAIM, OwnedRef("PodAutoscaler", "m", "a/v1", 1)))
    known = KNOWN | {"PodAutoscaler"}
    result = account_objects(old, present=[CLAIM], known_kinds=known, now=T0 + GRACE, grace=GRACE)
    assert result.decision.events == []
    assert result.decision.memory.owned == (CLAIM,)


def test_nothing_is_drift_while_deleting_or_for_a_kind_not_watched() -> None:
    deleting = replace(MEMORY, deleting=True, missing_since=T0)
    result = account_objects(deleting, present=[], known_kinds=KNOWN, now=T0 + GRACE, grace=GRACE)
    assert result.decision.events == []
    unwatched = account_objects(
        MEMORY,
        present=[CLAIM],
        known_kinds=frozenset({"PersistentVolumeClaim"}),
        now=T0,
        grace=GRACE,
    )
    assert unwatched.decision.memory.missing_since is None
    assert unwatched.decision.memory.owned == (CLAIM, SERVICE)
