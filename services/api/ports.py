"""What the api's logic needs from the outside world, as Protocols (the adapters in
`services.api.adapters` implement them; the tests' fakes too)."""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson

from services.api.admission import Ask, Plan, Reservation
from services.api.history import FeedEvent, FeedFilter, HistoryPage
from services.api.keys import Caller
from services.api.listing import ModelFilter
from services.api.records import ModelDetails, ModelRecord, StoredModel
from shared.queries import StatusReply, WorkloadEntry
from shared.records import Document


class ModelRegistry(Protocol):
    """The registry as `Models` uses it. Unique: (namespace, name), `id` and `public_id`."""

    async def next_id(self) -> int: ...

    async def insert(self, document: Document) -> StoredModel:
        """Store a new model with its outbox entry, and return it as stored:
        `ModelNameTakenError` for a taken (namespace, name), `PublicIdCollisionError` for a
        public id another model holds."""

    def remember(self, model: StoredModel) -> None:
        """A model stored by another writer (admission's transaction): read your writes."""

    async def name_taken(self, *, namespace: str, name: str) -> bool: ...

    async def get(self, organization_id: int, model: int | str) -> ModelRecord | None:
        """The model as the api shows it; None when it is not the organization's."""

    async def details(self, organization_id: int, model: int | str) -> ModelDetails | None:
        """`get`'s model with its desired deployment config (which holds no secret)."""

    async def page(
        self, organization_id: int, *, limit: int, offset: int, where: ModelFilter
    ) -> tuple[list[ModelRecord], int]:
        """The organization's models `where` admits, sorted by id, from `offset`: at most
        `limit` of them (their list fields), and how many there are in all."""

    async def own_models(
        self, organization_id: int, public_ids: list[str]
    ) -> dict[str, ModelRecord]:
        """The fields `/all` shows of the organization's own models, by public id."""

    @property
    def read_version(self) -> int | None:
        """Changes whenever what reads return may have changed; None while it cannot tell
        (then nothing derived from a read may be kept)."""

    async def editable(self, organization_id: int, model: int | str) -> StoredModel | None:
        """The whole stored model, what a change is judged against and guarded by."""

    async def change(self, model: StoredModel, changes: Document) -> StoredModel | None:
        """Set `changes` (registry fields) on the model as read (its generation, not being
        deleted); the model after, or None when someone changed it meanwhile."""

    async def mark_deleting(
        self, organization_id: int, model: int | str, *, now: datetime
    ) -> StoredModel | None:
        """The model, now `deleting` with its delete command pending; None when it is not
        theirs. A model already `deleting` whose command went out gets it again."""


class GpuAdmissions(Protocol):
    """Quota, placement and reservation, decided with the write that stores them."""

    async def admit(
        self,
        build: Callable[[Plan], Document],
        *,
        organization_id: int,
        ask: Ask,
        quota_gpus: int,
        cluster: Callable[[], Awaitable[StatusReply]],
        min_vram_bytes: int,
    ) -> StoredModel:
        """Store the model `build` makes of its plan, or refuse and store nothing: over the
        quota (403), no node fits (400), a taken name (409)."""

    async def readmit(
        self,
        model: StoredModel,
        changes_for: Callable[[Plan], Document],
        *,
        ask: Ask,
        surge: int,
        quota_gpus: int,
        cluster: Callable[[], Awaitable[StatusReply]],
        min_vram_bytes: int,
    ) -> StoredModel | None:
        """A change that adds GPUs, judged as a create is and stored with its plan; the
        model after, or None when it changed meanwhile."""

    async def reserved(self) -> list[Reservation]:
        """Every reservation that may still hold GPUs."""

    async def usage(self, organization_id: int) -> tuple[int | None, int]:
        """The organization's GPU limit (None: unlimited) and the GPUs its models count."""


class ClusterInventory(Protocol):
    async def status(self, *, fresh: bool = True, max_age: float | None = None) -> StatusReply:
        """The cluster status; `fresh=False` accepts a recent one, `max_age` one received
        at most that many seconds ago. `NotInClusterError` (403) without a cluster,
        `InventoryUnavailableError` (503) without an answer."""

    def cluster_status_json(self, reply: StatusReply) -> orjson.Fragment:
        """`reply.cluster_status` as JSON."""

    async def models(self) -> tuple[list[WorkloadEntry], object]:
        """Every model workload in the cluster, and what identifies their content: an
        equal second value means equal entries. `status`'s refusals first."""


class ModelHistory(Protocol):
    """A model's past events (MODEL_EVENTS)."""

    async def page(
        self,
        *,
        organization_id: int,
        name: str,
        public_id: str,
        created_at: datetime,
        after: int | None,
        limit: int,
    ) -> HistoryPage:
        """Up to `limit` of the model's events after sequence `after` (from its creation
        when None), oldest first. `HistoryUnavailableError` (503) without an answer."""


class EventFeed(Protocol):
    """One stream client's feed of new events, in stream order."""

    @property
    def after(self) -> int:
        """The sequence the feed starts after."""

    @property
    def capacity(self) -> int:
        """How many events the client may fall behind by."""

    async def next(self) -> FeedEvent | None:
        """The next event, or None after a quiet while (time for a keep-alive).
        `FeedOverflowedError` once the client has fallen `capacity` events behind."""

    async def close(self) -> None: ...


class EventFeeds(Protocol):
    async def open(self, which: FeedFilter, *, after: int | None) -> EventFeed:
        """A feed of the events `which` admits after sequence `after` (after the last one
        published when None), subscribed before it returns."""


class Authenticator(Protocol):
    async def authenticate(self, key: str) -> Caller | None:
        """The caller an API key belongs to; None for an unknown or revoked key."""


class StatusStore(Protocol):
    """The registry as the status consumer uses it."""

    async def by_public_ids(self, public_ids: list[str]) -> dict[str, StoredModel]:
        """The models with these public ids that still exist."""

    async def write_all(self, writes: list[tuple[StoredModel, Document | None]]) -> bool:
        """Per model as read: the fields to set (None: remove it), each guarded by the
        model as read (its status, generation and event sequence; a removal by its still
        being deleted), in one commit; False when any model had changed meanwhile."""


class RepairKicker(Protocol):
    def kick(self, document_id: Any, outbox: dict[str, Any]) -> None:
        """Publish the model's pending command now (the relay's sweep is the fallback)."""


class Outbox(RepairKicker, Protocol):
    """The relay as a write uses it: an entry written now is due after `grace`."""

    @property
    def grace(self) -> timedelta: ...
