"""Which events a managed model's observed change deserves, and what to remember.

`running` is about a generation: it is emitted once that generation's rollout is done
(no pod of an older template left), so old pods still serving during a RollingUpdate
never announce the new generation. A failure of the new pods (a bad image) is `failed`
even while old pods serve.

Events are emitted on transitions only. `ModelMemory` is the last state emitted (and the
last desired and ready replica counts) per public id; it is persisted, so a restart that
observes the same state emits nothing. A running model whose ready count moves with no
other event (a scale-up's second pod becomes ready after `running` was told) hears
`scaled`, so the details' `ready_replicas` follow the cluster. A new generation (the user updated the model) forgets the
emitted state so the api hears `running` again for it. While a model is being deleted
nothing is emitted; a Deployment that vanishes otherwise is drift, but only after a short
grace, because the `deleting` event and the watch's DELETED race each other.

The model's other objects (Service, Secret, PVC, ServiceMonitor, PodAutoscaler) are
remembered as they are seen, with the generation that applied them. One that vanishes is
drift after the same grace, unless the model is being deleted or the object was of an
older generation than the model's Deployment (the newer one pruned it: a feature turned
off). Only kinds whose watches have synced can show an object missing. The drift forgets
the emitted state, so that once the repair brings the objects back the model's state is
told again (`running` after `degraded: repairing`).
"""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal
from uuid import NAMESPACE_URL, uuid5

from services.inventory.health import Assessment
from services.inventory.objects import ObservedWorkload, OwnedRef
from shared.events import (
    CloudEvent,
    DegradedData,
    DriftedData,
    FailedData,
    ModelDegraded,
    ModelDrifted,
    ModelFailed,
    ModelRunning,
    ModelScaled,
    ObjectRef,
    RunningData,
    ScaledData,
)
from shared.names import DEFAULT_NAMESPACE

EVENT_SOURCE = "/jan-models/inventory"
State = Literal["none", "running", "degraded", "failed"]


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    organization_id: int
    model_id: int
    public_id: str
    name: str
    namespace: str
    generation: int

    def as_data(self) -> dict[str, object]:
        return {
            "organization_id": self.organization_id,
            "model_id": self.model_id,
            "public_id": self.public_id,
            "name": self.name,
            "namespace": self.namespace,
            "generation": self.generation,
        }


def identity_of(workload: ObservedWorkload) -> ModelIdentity | None:
    """The model a managed Deployment belongs to; None when a label or annotation is missing."""
    if (
        workload.organization_id is None
        or workload.public_id is None
        or workload.model_db_id is None
        or workload.generation is None
        or workload.model_db_id < 1
        or workload.generation < 1
    ):
        return None
    return ModelIdentity(
        organization_id=workload.organization_id,
        model_id=workload.model_db_id,
        public_id=workload.public_id,
        name=workload.model_name or workload.name,
        namespace=workload.namespace or DEFAULT_NAMESPACE,
        generation=workload.generation,
    )


@dataclass(frozen=True, slots=True)
class ModelMemory:
    public_id: str
    identity: ModelIdentity | None = None
    state: State = "none"
    replicas: int | None = None
    ready_replicas: int | None = None
    present: bool = False
    deleting: bool = False
    gone_since: datetime | None = None
    sequence: int = 0
    """How many events this model's transitions have emitted: the last one's `seq`."""
    failure: str = ""
    """The reason and message of the last `failed` emitted: a better one is emitted again."""
    owned: tuple[OwnedRef, ...] = ()
    """The model's objects besides its Deployment, as last seen (and those missing)."""
    missing_since: datetime | None = None
    """Since when one of `owned` is missing (None: none is)."""


@dataclass(frozen=True, slots=True)
class Decision:
    memory: ModelMemory
    events: list[CloudEvent] = field(default_factory=list)


def observe(
    memory: ModelMemory,
    *,
    workload: ObservedWorkload,
    identity: ModelIdentity,
    assessment: Assessment,
) -> Decision:
    """The Deployment is there: emit scaled / running / degraded / failed on transitions."""
    previous = memory
    if previous.identity is not None and identity.generation > previous.identity.generation:
        previous = replace(previous, state="none")
    updated = replace(previous, identity=identity, present=True, gone_since=None)
    if memory.deleting:
        return Decision(
            replace(updated, replicas=workload.replicas, ready_replicas=workload.ready_replicas)
        )
    events: list[CloudEvent] = []
    data = identity.as_data()
    counts = {
        "replicas": workload.replicas,
        "ready_replicas": workload.ready_replicas,
        "updated_replicas": workload.updated_replicas,
    }
    if previous.replicas is not None and workload.replicas != previous.replicas:
        events.append(
            ModelScaled.of(
                ScaledData.model_validate(
                    {**data, **counts, "previous_replicas": previous.replicas}
                ),
                source=EVENT_SOURCE,
            )
        )
    state = previous.state
    serving = workload.ready_replicas >= 1 and assessment.crashlooping is None
    if serving and workload.rolled_out:
        if state != "running":
            events.append(
                ModelRunning.of(RunningData.model_validate({**data, **counts}), source=EVENT_SOURCE)
            )
            state = "running"
    elif assessment.failure is not None and (
        workload.ready_replicas == 0 or not workload.rolled_out
    ):  # a new generation that cannot run fails, even with old pods still serving
        failure = assessment.failure
        said = f"{failure.reason}: {failure.message}"
        if state != "failed" or said != previous.failure:
            # Kubernetes' own words (an Event, a crash's log) may come after the status
            # that showed the failure: the api hears the better reason too.
            events.append(
                ModelFailed.of(
                    FailedData.model_validate(
                        {
                            **data,
                            "replicas": workload.replicas,
                            "ready_replicas": workload.ready_replicas,
                            "stage": "runtime",
                            "reason": failure.reason,
                            "message": failure.message,
                        }
                    ),
                    source=EVENT_SOURCE,
                )
            )
            state = "failed"
            updated = replace(updated, failure=said)
    elif state == "running" and not serving:
        problem = assessment.crashlooping
        reason = problem.reason if problem else "NoReadyReplica"
        message = problem.message if problem else "no replica is ready"
        events.append(
            ModelDegraded.of(
                DegradedData.model_validate(
                    {**data, **counts, "reason": reason, "message": message}
                ),
                source=EVENT_SOURCE,
            )
        )
        state = "degraded"
    moved = previous.ready_replicas not in (None, workload.ready_replicas)
    if moved and not events and state == "running":
        events.append(
            ModelScaled.of(
                ScaledData.model_validate(
                    {**data, **counts, "previous_replicas": workload.replicas}
                ),
                source=EVENT_SOURCE,
            )
        )
    remembered = replace(
        updated, state=state, replicas=workload.replicas, ready_replicas=workload.ready_replicas
    )
    return Decision(remembered, events)


def vanished(memory: ModelMemory, *, now: datetime) -> ModelMemory:
    """The Deployment is gone from the cluster; start the drift grace if it mattered."""
    if not memory.present or memory.gone_since is not None:
        return memory
    return replace(memory, gone_since=now)


def check_drift(memory: ModelMemory, *, now: datetime, grace: timedelta) -> Decision:
    """After the grace, a vanished Deployment of a model not being deleted is drift."""
    if memory.gone_since is None:
        return Decision(memory)
    forgotten = replace(memory, present=False, gone_since=None, state="none", replicas=None)
    if memory.deleting:
        return Decision(forgotten)
    if now < memory.gone_since + grace:
        return Decision(memory)
    if memory.identity is None:
        return Decision(forgotten)
    data = DriftedData.model_validate(
        {
            **memory.identity.as_data(),
            "missing": [
                ObjectRef(api_version="apps/v1", kind="Deployment", name=memory.identity.name)
            ],
        }
    )
    return Decision(forgotten, [ModelDrifted.of(data, source=EVENT_SOURCE)])


@dataclass(frozen=True, slots=True)
class Accounting:
    decision: "Decision"
    appeared: bool
    """An object the memory did not hold is there now."""


def account_objects(
    memory: ModelMemory,
    *,
    present: list[OwnedRef],
    known_kinds: frozenset[str],
    now: datetime,
    grace: timedelta,
) -> Accounting:
    """The model's objects besides its Deployment: remember them; one missing past the
    grace is drift. Nothing is drift while the model is being deleted or its Deployment is
    gone too (that drift's repair brings everything back)."""
    seen = tuple(sorted(present))
    names = {(ref.kind, ref.name) for ref in seen}
    appeared = not names <= {(ref.kind, ref.name) for ref in memory.owned}
    if memory.deleting or memory.identity is None or not memory.present or memory.gone_since:
        return Accounting(Decision(replace(memory, owned=seen, missing_since=None)), appeared)
    current = memory.identity.generation
    missing = tuple(
        ref
        for ref in memory.owned
        if (ref.kind, ref.name) not in names
        and (ref.kind not in known_kinds or ref.generation >= current)
    )
    gone = [ref for ref in missing if ref.kind in known_kinds]
    if not gone:
        return Accounting(
            Decision(replace(memory, owned=tuple(sorted(seen + missing)), missing_since=None)),
            appeared,
        )
    since = memory.missing_since or now
    if now < since + grace:
        owned = tuple(sorted(seen + missing))
        return Accounting(Decision(replace(memory, owned=owned, missing_since=since)), appeared)
    kinds = {ref.kind for ref in gone}
    data = DriftedData.model_validate(
        {
            **memory.identity.as_data(),
            "missing": [
                ObjectRef(api_version=ref.api_version, kind=ref.kind, name=ref.name) for ref in gone
            ],
            "reason": f"{kinds.pop()}Missing" if len(kinds) == 1 else "ObjectsMissing",
        }
    )
    kept = tuple(sorted(seen + tuple(ref for ref in missing if ref not in gone)))
    forgotten = replace(memory, owned=kept, missing_since=None, state="none")
    return Accounting(Decision(forgotten, [ModelDrifted.of(data, source=EVENT_SOURCE)]), appeared)


@dataclass(frozen=True, slots=True)
class Emission:
    """An event and its `Nats-Msg-Id`, `<public_id>:<type>:<generation>:<seq>`.

    `seq` counts the model's transitions in its memory, which is saved only after the
    event is acknowledged. A transition re-derived after a restart (the event went out
    but the memory was not saved, or neither) gets the same id, which JetStream drops if
    it has the event already; a new transition always gets a new one. The CloudEvents
    id is derived from it too, so a subscriber can drop a late duplicate the same way.
    """

    event: CloudEvent
    msg_id: str


def numbered(memory: ModelMemory, events: list[CloudEvent]) -> tuple[ModelMemory, list[Emission]]:
    """The memory after emitting `events`, and each event with its deterministic ids."""
    emissions: list[Emission] = []
    sequence = memory.sequence
    for event in events:
        sequence += 1
        msg_id = f"{event.subject}:{event.event_type.value}:{event.data.generation}:{sequence}"
        stamped = event.model_copy(update={"id": str(uuid5(NAMESPACE_URL, msg_id))})
        emissions.append(Emission(stamped, msg_id))
    return replace(memory, sequence=sequence), emissions


def mark_deleting(memory: ModelMemory) -> ModelMemory:
    return replace(memory, deleting=True)
