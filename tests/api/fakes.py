"""Small fakes of the api's ports and of the NATS it talks to: an in-memory registry with
MongoDB's unique indexes and the adapter's guards, admissions decided by the adapter's
own pure rules, a settable inventory, a relay that records its kicks, a model history
and event feeds served from a list of published events, and the JetStream, client and
message the relay and the status consumer use.

Every fake appends what is called on it to `calls` ("registry.insert"), so a test that
shares one list between them reads the path a request takes, in order."""

import asyncio
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from bson import ObjectId
from cryptography.fernet import Fernet
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import PubAck
from pydantic import SecretStr

from services.api import admission
from services.api.admission import (
    Ask,
    Plan,
    Reservation,
    check_quota,
    free_by_node,
    place,
    reserved_by_node,
    reserved_gpus,
)
from services.api.cluster_models import ClusterModels
from services.api.documents import delete_entry, new_model_document
from services.api.gates import available
from services.api.handlers import Models
from services.api.history import FeedEvent, FeedFilter, FeedOverflowedError, HistoryPage
from services.api.identifiers import PublicIdCollisionError
from services.api.listing import ModelFilter
from services.api.ratelimit import TokenBuckets
from services.api.records import ModelDetails, ModelRecord, StoredModel
from services.api.requests import CreateModelRequest
from services.api.transitions import Status
from services.api.web.examples import SEED_CREATE_REQUEST
from shared.errors import (
    HistoryUnavailableError,
    InsufficientResourcesError,
    InventoryUnavailableError,
    ModelNameTakenError,
)
from shared.queries import StatusReply, WorkloadEntry
from shared.records import Document
from shared.secrets import TokenCipher
from tests.api.conftest import synced_status


def model_document(*, grace_passed: bool = True) -> Document:
    """The seed's model as created, its create command pending (due now by default)."""
    now = datetime.now(UTC)
    document = new_model_document(
        CreateModelRequest.model_validate(SEED_CREATE_REQUEST),
        model_id=1,
        public_id="mdl_abc123def456",
        organization_id=123,
        hf_token_encrypted=None,
        now=now,
        due_at=now if grace_passed else now.replace(year=now.year + 1),
    )
    document["_id"] = ObjectId()
    return document


@dataclass
class FakeRegistry:
    """The models in memory. Unique like the real indexes: (namespace, name), `id` and
    `public_id`, with the adapter's exceptions; writes guarded as the adapter's are.
    What it hands out is a copy, as a database's would be."""

    calls: list[str] = field(default_factory=list)
    models: dict[ObjectId, Document] = field(default_factory=dict)
    remembered: list[StoredModel] = field(default_factory=list)
    last_id: int = 0
    version: int | None = 0
    """The read version, bumped by every write; None: as a registry whose in-memory copy
    is not ready (it cannot tell)."""

    # --- for tests: state as stored --------------------------------------------------------

    def put(self, document: Document) -> Document:
        """Store `document` under the unique indexes, giving it an `_id` as MongoDB's
        driver does (in place); no call is recorded."""
        for stored in self.models.values():
            if stored["public_id"] == document["public_id"]:
                raise PublicIdCollisionError
            if stored["id"] == document["id"] or (stored["namespace"], stored["name"]) == (
                document["namespace"],
                document["name"],
            ):  # the adapter reads any other duplicate key as a taken name
                raise ModelNameTakenError(name=document["name"], namespace=document["namespace"])
        document.setdefault("_id", ObjectId())
        self.models[document["_id"]] = copy.deepcopy(document)
        self._changed()
        return document

    def _changed(self) -> None:
        if self.version is not None:
            self.version += 1

    def stored(self, public_id: str) -> Document:
        """The stored model itself (not a copy): a test may change it behind the api's back."""
        return next(model for model in self.models.values() if model["public_id"] == public_id)

    def set_if_unchanged(self, model: StoredModel, changes: Document) -> StoredModel | None:
        """`change_guard`: the model at the generation read, not being deleted."""
        stored = self.models.get(model.document_id)
        if (
            stored is None
            or stored["generation"] != model.record.generation
            or stored["status"] == Status.DELETING
        ):
            return None
        for key, value in copy.deepcopy(changes).items():
            field, _, index = key.partition(".")  # `conditions.0`: a list entry in place
            if index:
                stored[field][int(index)] = value
            else:
                stored[key] = value
        self._changed()
        return StoredModel.from_document(copy.deepcopy(stored))

    def _find(self, organization_id: int, model: int | str) -> Document | None:
        key = "id" if isinstance(model, int) else "public_id"
        found = next((m for m in self.models.values() if m[key] == model), None)
        return found if found is not None and found["organization_id"] == organization_id else None

    # --- ModelRegistry ----------------------------------------------------------------------

    async def next_id(self) -> int:
        self.calls.append("registry.next_id")
        self.last_id += 1
        return self.last_id

    async def insert(self, document: Document) -> StoredModel:
        self.calls.append("registry.insert")
        return StoredModel.from_document(copy.deepcopy(self.put(document)))

    def remember(self, model: StoredModel) -> None:
        self.calls.append("registry.remember")
        self.remembered.append(model)

    async def name_taken(self, *, namespace: str, name: str) -> bool:
        self.calls.append("registry.name_taken")
        return any((m["namespace"], m["name"]) == (namespace, name) for m in self.models.values())

    async def get(self, organization_id: int, model: int | str) -> ModelRecord | None:
        self.calls.append("registry.get")
        found = self._find(organization_id, model)
        return None if found is None else ModelRecord.from_document(found)

    async def details(self, organization_id: int, model: int | str) -> ModelDetails | None:
        self.calls.append("registry.details")
        found = self._find(organization_id, model)
        return None if found is None else ModelDetails.from_document(found)

    async def page(
        self, organization_id: int, *, limit: int, offset: int, where: ModelFilter
    ) -> tuple[list[ModelRecord], int]:
        """As the adapter's in-memory copy: the records, by id."""
        self.calls.append("registry.page")
        records = (ModelRecord.from_document(m) for m in self.models.values())
        found = sorted(
            (m for m in records if m.organization_id == organization_id and where.matches(m)),
            key=lambda model: model.id,
        )
        return (found[offset : offset + limit] if limit > 0 else []), len(found)

    async def own_models(
        self, organization_id: int, public_ids: list[str]
    ) -> dict[str, ModelRecord]:
        self.calls.append("registry.own_models")
        return {
            model["public_id"]: ModelRecord.from_document(model)
            for model in self.models.values()
            if model["organization_id"] == organization_id and model["public_id"] in public_ids
        }

    @property
    def read_version(self) -> int | None:
        return self.version

    async def editable(self, organization_id: int, model: int | str) -> StoredModel | None:
        self.calls.append("registry.editable")
        found = self._find(organization_id, model)
        return None if found is None else StoredModel.from_document(copy.deepcopy(found))

    async def change(self, model: StoredModel, changes: Document) -> StoredModel | None:
        self.calls.append("registry.change")
        return self.set_if_unchanged(model, changes)

    async def mark_deleting(
        self, organization_id: int, model: int | str, *, now: datetime
    ) -> StoredModel | None:
        """As the adapter: `deleting` with a delete command and a new generation; a model
        already deleting whose command went out gets it again with the next attempt."""
        self.calls.append("registry.mark_deleting")
        stored = self._find(organization_id, model)
        if stored is None:
            return None
        read = StoredModel.from_document(stored)
        if stored["status"] == Status.DELETING:
            if not stored.get("outbox"):
                attempt = stored.get("delete_attempt", 0) + 1
                entry = delete_entry(
                    read, generation=stored["generation"], now=now, attempt=attempt
                )
                stored.update(delete_attempt=attempt, updated_at=now, outbox=entry)
            return StoredModel.from_document(copy.deepcopy(stored))
        generation = stored["generation"] + 1
        stored.update(
            status=Status.DELETING.value,
            generation=generation,
            updated_at=now,
            outbox=delete_entry(read, generation=generation, now=now),
        )
        self._changed()
        return StoredModel.from_document(copy.deepcopy(stored))

    # --- StatusStore ------------------------------------------------------------------------

    async def by_public_ids(self, public_ids: list[str]) -> dict[str, StoredModel]:
        self.calls.append("registry.by_public_ids")
        wanted = set(public_ids)
        return {
            model["public_id"]: StoredModel.from_document(copy.deepcopy(model))
            for model in self.models.values()
            if model["public_id"] in wanted
        }

    async def write_all(self, writes: list[tuple[StoredModel, Document | None]]) -> bool:
        """Each write holds only for the model as read (the adapter's `_guard`); a removal
        only for a model still deleting."""
        self.calls.append("registry.write_all")
        held = True
        for read, changes in writes:
            stored = self.models.get(read.document_id)
            as_read = (read.record.generation, read.record.status, read.event_sequence)
            if changes is None and stored is not None and stored["status"] == Status.DELETING:
                del self.models[read.document_id]
            elif (
                changes is not None
                and stored is not None
                and (stored["generation"], stored["status"], stored.get("event_sequence", 0))
                == as_read
            ):
                stored.update(copy.deepcopy(changes))
            else:
                held = False
        self._changed()
        return held

    # --- the relay's side -------------------------------------------------------------------

    async def due(self, *, now: datetime, limit: int) -> list[Document]:
        self.calls.append("registry.due")
        pending = [
            m for m in self.models.values() if m.get("outbox") and m["outbox"]["due_at"] <= now
        ]
        pending.sort(key=lambda model: model["outbox"]["due_at"])
        return [{"_id": m["_id"], "outbox": copy.deepcopy(m["outbox"])} for m in pending[:limit]]

    async def clear_outbox(self, document_id: ObjectId, msg_id: str) -> None:
        self.calls.append("registry.clear_outbox")
        stored = self.models[document_id]
        if (stored.get("outbox") or {}).get("msg_id") == msg_id:
            del stored["outbox"]

    async def postpone(self, document_id: ObjectId, msg_id: str, *, due_at: datetime) -> None:
        self.calls.append("registry.postpone")
        outbox = self.models[document_id].get("outbox")
        if outbox is not None and outbox["msg_id"] == msg_id:
            outbox["due_at"] = due_at
            outbox["attempts"] += 1


@dataclass
class FakeAdmissions:
    """GPU admission over the fake registry's models, decided by the pure rules the adapter
    runs in its transaction: `check_quota`, then `place` on `free_by_node` less the
    outstanding reservations. `limits` is each organization's GPU quota (none: unlimited)."""

    registry: FakeRegistry
    limits: dict[int, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

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
        self.calls.append("admissions.admit")
        status = await cluster()
        limit, used = self._usage(organization_id)
        check_quota(organization_id=organization_id, limit=limit, used=used, requested=quota_gpus)
        reserved = reserved_by_node(self._reservations(), status.bound_gpus)
        plan = place(ask, status.placement, free_by_node(status.placement, reserved))
        if plan is None:
            raise InsufficientResourcesError(min_gpus=ask.gpus, min_vram_bytes=min_vram_bytes)
        return StoredModel.from_document(copy.deepcopy(self.registry.put(build(plan))))

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
        """The quota for what the change adds; its surge pods on what is free, its replicas
        on what is free plus what its own bound pods hold."""
        self.calls.append("admissions.readmit")
        status = await cluster()
        organization_id, public_id = model.record.organization_id, model.record.public_id
        added = quota_gpus - model.record.quota_gpus
        limit, used = self._usage(organization_id)
        if added > 0:
            check_quota(organization_id=organization_id, limit=limit, used=used, requested=added)
        others = [r for r in self._reservations() if r.public_id != public_id]
        free = free_by_node(status.placement, reserved_by_node(others, status.bound_gpus))
        surge_plan = place(replace(ask, replicas=surge), status.placement, free) if surge else []
        plan = None
        if surge_plan is not None:
            for node, gpus in surge_plan:
                free[node] -= gpus
            for node, gpus in status.bound_gpus.get(public_id, {}).items():
                free[node] = free.get(node, 0) + gpus
            plan = place(ask, status.placement, free)
        if plan is None or surge_plan is None:
            raise InsufficientResourcesError(min_gpus=ask.gpus, min_vram_bytes=min_vram_bytes)
        return self.registry.set_if_unchanged(model, changes_for([*plan, *surge_plan]))

    async def reserved(self) -> list[Reservation]:
        self.calls.append("admissions.reserved")
        return self._reservations()

    async def usage(self, organization_id: int) -> tuple[int | None, int]:
        self.calls.append("admissions.usage")
        return self._usage(organization_id)

    def _usage(self, organization_id: int) -> tuple[int | None, int]:
        models = self.registry.models.values()
        used = sum(
            admission.quota_gpus(m) for m in models if m["organization_id"] == organization_id
        )
        return self.limits.get(organization_id), used

    def _reservations(self) -> list[Reservation]:
        now = datetime.now(UTC)
        return [
            Reservation(
                public_id=model["public_id"],
                plan=[(entry["node"], int(entry["gpus"])) for entry in model["reservation"]],
            )
            for model in self.registry.models.values()
            if reserved_gpus(model, now=now)
        ]


@dataclass
class FakeInventory:
    """The inventory's status reply, whichever a test sets; `unavailable` makes it silent
    (a 503). Replies pass the adapter's own rule (`available`): no cluster is a 403."""

    reply: StatusReply = field(default_factory=synced_status)
    unavailable: bool = False
    calls: list[str] = field(default_factory=list)
    workloads: list[WorkloadEntry] = field(default_factory=list)
    workloads_version: object = 0
    """What identifies `workloads`: a test changing them bumps it, as the inventory would."""

    async def status(self, *, fresh: bool = True, max_age: float | None = None) -> StatusReply:
        self.calls.append("inventory.status")
        if self.unavailable:
            raise InventoryUnavailableError("no answer in time")
        return available(self.reply)

    def cluster_status_json(self, reply: StatusReply) -> orjson.Fragment:
        return orjson.Fragment(orjson.dumps(reply.cluster_status.model_dump(mode="json")))

    async def models(self) -> tuple[list[WorkloadEntry], object]:
        """As the adapter: the status's refusals first (unsynced, no cluster, silent)."""
        self.calls.append("inventory.models")
        if self.unavailable:
            raise InventoryUnavailableError("no answer in time")
        available(self.reply)
        return self.workloads, self.workloads_version


@dataclass
class FakeHistory:
    """MODEL_EVENTS as a list of (sequence, CloudEvent): a page holds the events after
    `after` whose subject is the model's, up to `limit`; `unavailable` makes it silent."""

    events: list[tuple[int, bytes]] = field(default_factory=list)
    unavailable: bool = False
    calls: list[str] = field(default_factory=list)
    asked: list[dict[str, Any]] = field(default_factory=list)

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
        self.calls.append("history.page")
        self.asked.append(
            {"organization_id": organization_id, "name": name, "public_id": public_id}
        )
        if self.unavailable:
            raise HistoryUnavailableError("direct get timed out")
        found = [
            (sequence, data)
            for sequence, data in self.events
            if sequence > (after or 0) and orjson.loads(data)["subject"] == public_id
        ]
        shown = found[:limit]
        next_after = shown[-1][0] if len(found) > limit else None
        return HistoryPage([orjson.Fragment(data) for _, data in shown], next_after)


@dataclass
class FakeFeed:
    """An open feed of the events published after it opened (or after `after`) that its
    filter admits; more than `capacity` unread is an overflow."""

    which: FeedFilter
    after: int
    capacity: int
    queued: list[FeedEvent] = field(default_factory=list)
    overflowed: bool = False
    closed: bool = False

    def offer(self, event: FeedEvent) -> None:
        if self.closed or self.overflowed or event.sequence <= self.after:
            return
        if not self.which.admits(event.data):
            return
        if len(self.queued) == self.capacity:
            self.overflowed = True
            return
        self.queued.append(event)

    async def next(self) -> FeedEvent | None:
        if self.overflowed:
            raise FeedOverflowedError
        return self.queued.pop(0) if self.queued else None

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeFeeds:
    """Opens feeds on a shared list of published events; `publish` hands each open feed
    the events of its subject, as JetStream's subject filter would."""

    capacity: int = 4
    last_sequence: int = 0
    opened: list[FakeFeed] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    async def open(self, which: FeedFilter, *, after: int | None) -> FakeFeed:
        self.calls.append("feeds.open")
        feed = FakeFeed(
            which, after=self.last_sequence if after is None else after, capacity=self.capacity
        )
        self.opened.append(feed)
        return feed

    def publish(self, subject: str, event: Document) -> None:
        self.last_sequence += 1
        published = FeedEvent(self.last_sequence, orjson.dumps(event))
        for feed in self.opened:
            pattern = feed.which.subject.split(".")
            if len(pattern) == len(parts := subject.split(".")) and all(
                want in ("*", part) for want, part in zip(pattern, parts, strict=True)
            ):
                feed.offer(published)


@dataclass
class FakeRelay:
    """Records each kick and its outbox entry; publishes nothing."""

    calls: list[str] = field(default_factory=list)
    kicked: list[dict[str, Any]] = field(default_factory=list)
    grace: timedelta = timedelta(seconds=2)

    def kick(self, document_id: Any, outbox: dict[str, Any]) -> None:
        self.calls.append("relay.kick")
        self.kicked.append(outbox)


@dataclass
class FakeClock:
    """Seconds that pass only when a test says so (the create rate's clock)."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeApi:
    """`Models` on fakes that share one `calls` list."""

    calls: list[str]
    registry: FakeRegistry
    admissions: FakeAdmissions
    inventory: FakeInventory
    relay: FakeRelay
    history: FakeHistory
    feeds: FakeFeeds
    clock: FakeClock
    models: Models


def fake_api(
    *, limits: dict[int, int] | None = None, create_rate: float = 1.0, create_burst: int = 100
) -> FakeApi:
    calls: list[str] = []
    registry = FakeRegistry(calls)
    admissions = FakeAdmissions(registry, dict(limits or {}), calls)
    inventory = FakeInventory(calls=calls)
    relay = FakeRelay(calls)
    history = FakeHistory(calls=calls)
    feeds = FakeFeeds(calls=calls)
    clock = FakeClock()
    models = Models(
        registry=registry,
        admissions=admissions,
        inventory=inventory,
        relay=relay,
        cipher=TokenCipher(SecretStr(Fernet.generate_key().decode())),
        creates=TokenBuckets(rate=create_rate, burst=create_burst, clock=clock),
        cluster_models=ClusterModels(inventory=inventory, registry=registry),
        history=history,
        feeds=feeds,
    )
    return FakeApi(calls, registry, admissions, inventory, relay, history, feeds, clock, models)


# --- NATS ----------------------------------------------------------------------------------


@dataclass
class FakeSequence:
    stream: int


@dataclass
class FakeMetadata:
    sequence: FakeSequence


@dataclass
class FakeMsg:
    """A JetStream message as the status consumer reads and settles it."""

    calls: list[str]
    data: bytes
    metadata: FakeMetadata

    async def ack(self) -> None:
        self.calls.append("msg.ack")

    async def nak(self, delay: float | None = None) -> None:
        self.calls.append("msg.nak")


@dataclass
class FakePullSubscription:
    """Hands out `batches` one fetch at a time, then calls `drained` and times out, as an
    idle pull consumer does."""

    batches: list[list[FakeMsg]]
    drained: Callable[[], None]

    async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[FakeMsg]:
        await asyncio.sleep(0)
        if not self.batches:
            self.drained()
            raise NatsTimeoutError
        return self.batches.pop(0)


@dataclass
class FakeJetStream:
    fail: bool = False
    published: list[tuple[str, str]] = field(default_factory=list)
    subscription: FakePullSubscription | None = None
    """What `pull_subscribe` answers."""

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> PubAck:
        if self.fail:
            raise TimeoutError("nats: timeout")
        self.published.append((subject, headers["Nats-Msg-Id"]))
        return PubAck(stream="S", seq=len(self.published))

    async def pull_subscribe(self, subject: str, **options: Any) -> FakePullSubscription:
        assert self.subscription is not None, "no pull subscription staged"
        return self.subscription


@dataclass
class FakeNats:
    js: FakeJetStream = field(default_factory=FakeJetStream)
    is_connected: bool = True

    def jetstream(self, timeout: float = 5.0) -> FakeJetStream:
        return self.js
