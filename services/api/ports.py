"""What the api's logic needs from the outside world, as Protocols (the adapters in
`services.api.adapters` implement them; the tests' fakes too)."""

from typing import Any, Protocol

from shared.records import Document


class StatusStore(Protocol):
    """The registry as the status consumer uses it."""

    async def by_public_ids(self, public_ids: list[str]) -> dict[str, Document]:
        """The models with these public ids that still exist."""

    async def write_all(self, writes: list[tuple[Document, Document | None]]) -> bool:
        """Per model as read: the fields to set (None: remove it), each guarded by the
        model as read, in one commit; False when any model had changed meanwhile."""


class RepairKicker(Protocol):
    def kick(self, document_id: Any, outbox: dict[str, Any]) -> None:
        """Publish the model's pending command now (the relay's sweep is the fallback)."""
