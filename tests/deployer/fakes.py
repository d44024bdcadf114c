"""Small fakes of the deployer's ports: an in-memory cluster, an event list, a message."""

import copy
from dataclasses import dataclass, field

from services.deployer.failures import ClusterError
from services.deployer.kinds import Kind
from services.deployer.manifests import Manifest, kind_of
from shared.crds import AIBRIX, SERVICE_MONITOR_CRD
from shared.events import CloudEvent
from shared.names import FIELD_MANAGER

ObjectKey = tuple[str, str, str]  # kind, namespace, name


@dataclass
class FakeCluster:
    crds: set[str] = field(default_factory=lambda: {AIBRIX.name, SERVICE_MONITOR_CRD})
    objects: dict[ObjectKey, Manifest] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    fail_apply: list[ClusterError] = field(default_factory=list)
    """Errors the next applies raise, one each."""
    fail_kinds: dict[str, ClusterError] = field(default_factory=dict)
    """Kinds whose list always fails."""
    applied: list[ObjectKey] = field(default_factory=list)
    handovers: list[tuple[ObjectKey, Manifest]] = field(default_factory=list)
    """Applies under another field manager (the replicas handover), with their manifests."""
    forced: list[ObjectKey] = field(default_factory=list)
    """The applies that asked to take over conflicting fields."""

    async def ensure_namespace(self, namespace: str) -> None:
        self.namespaces.add(namespace)

    async def crd_exists(self, name: str) -> bool:
        return name in self.crds

    async def labels_of(self, kind: Kind, *, namespace: str, name: str) -> dict[str, str] | None:
        found = self.objects.get((kind.kind, namespace, name))
        return None if found is None else dict(found["metadata"].get("labels") or {})

    async def replicas_of(self, kind: Kind, *, namespace: str, name: str) -> int | None:
        found = self.objects.get((kind.kind, namespace, name))
        return None if found is None else found.get("spec", {}).get("replicas")

    async def apply(self, manifest: Manifest, *, force: bool, manager: str = FIELD_MANAGER) -> None:
        if self.fail_apply:
            raise self.fail_apply.pop(0)
        meta = manifest["metadata"]
        key = (manifest["kind"], meta["namespace"], meta["name"])
        if manager != FIELD_MANAGER:  # a co-owner's apply: only its fields change
            self.handovers.append((key, copy.deepcopy(manifest)))
            self.objects[key].setdefault("spec", {}).update(manifest.get("spec") or {})
            return
        assert kind_of(manifest).kind == manifest["kind"]
        self.objects[key] = copy.deepcopy(manifest)
        self.applied.append(key)
        if force:
            self.forced.append(key)

    async def delete(self, kind: Kind, *, namespace: str, name: str) -> bool:
        return self.objects.pop((kind.kind, namespace, name), None) is not None

    async def list_names(self, kind: Kind, *, namespace: str, selector: str) -> list[str]:
        if kind.kind in self.fail_kinds:
            raise self.fail_kinds[kind.kind]
        label, _, value = selector.partition("=")
        return [
            name
            for (k, ns, name), obj in self.objects.items()
            if k == kind.kind and ns == namespace and obj["metadata"]["labels"].get(label) == value
        ]

    def kinds(self) -> set[str]:
        return {kind for kind, _, _ in self.objects}


@dataclass
class FakeEvents:
    published: list[CloudEvent] = field(default_factory=list)
    msg_ids: list[str] = field(default_factory=list)
    fail: int = 0

    async def publish(self, event: CloudEvent, *, msg_id: str) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("nats is down")
        self.published.append(event)
        self.msg_ids.append(msg_id)

    @property
    def types(self) -> list[str]:
        return [event.type.rsplit(".", 1)[-1] for event in self.published]


@dataclass
class FakeDelivery:
    data: bytes = b""
    stream_sequence: int = 1
    attempt: int = 1
    msg_id: str = "test"
    settled: list[tuple[str, float]] = field(default_factory=list)
    progress_beats: int = 0

    async def ack(self) -> None:
        self.settled.append(("ack", 0.0))

    async def nak(self, delay: float) -> None:
        self.settled.append(("nak", delay))

    async def term(self) -> None:
        self.settled.append(("term", 0.0))

    async def in_progress(self) -> None:
        self.progress_beats += 1

    @property
    def verdict(self) -> str:
        assert len(self.settled) == 1, self.settled
        return self.settled[0][0]
