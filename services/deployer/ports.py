"""What the deployer's logic needs from the outside world; adapters and test fakes provide it."""

from typing import Protocol

from services.deployer.kinds import Kind
from services.deployer.manifests import Manifest
from shared.events import CloudEvent
from shared.names import FIELD_MANAGER


class Cluster(Protocol):
    async def ensure_namespace(self, namespace: str) -> None: ...

    async def crd_exists(self, name: str) -> bool: ...

    async def labels_of(self, kind: Kind, *, namespace: str, name: str) -> dict[str, str] | None:
        """The labels of one object; None when it is not there."""

    async def replicas_of(self, kind: Kind, *, namespace: str, name: str) -> int | None:
        """A Deployment's `spec.replicas`; None when it is not there."""

    async def apply(self, manifest: Manifest, *, force: bool, manager: str = FIELD_MANAGER) -> None:
        """Server-side apply, field manager `jan-models` unless another is named; `force`
        takes over conflicting fields, which is only ever asked for an object already
        verified to be ours."""

    async def delete(self, kind: Kind, *, namespace: str, name: str) -> bool:
        """Delete one object; False when it was not there."""

    async def list_names(self, kind: Kind, *, namespace: str, selector: str) -> list[str]: ...


class EventSink(Protocol):
    async def publish(self, event: CloudEvent, *, msg_id: str) -> None:
        """Publish with this `Nats-Msg-Id`: a second publish of it is dropped."""
