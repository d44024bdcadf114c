"""What each write endpoint does, apart from HTTP: the checks in order, then one write.

Create: the request's cross-field rules and GPU ask (400), an object the model would own
that is someone else's (409), the inventory's availability (503) and the cluster gates
(403), then one write that carries the pending command. A
model that asks for GPUs is admitted in one transaction with its organization's quota
(403), its placement on eligible nodes (400 when none fits) and its reservation
(`adapters/admissions.py`); a model without GPUs is one plain insert. The unique index
on (namespace, name) answers a taken name (409) with no extra read, also for two creates
racing. The relay publishes without the caller waiting on NATS.

`Models` is the one object every route calls: besides the writes it rate-limits creates
per API key, pages the registry, renders `/all`, pages a model's history and opens an
event feed, each through a port (`services.api.ports`).
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

from services.api import listing
from services.api.admission import (
    ADMISSION_STATUS_AGE,
    Ask,
    Plan,
    reservation_fields,
    reserved_by_node,
)
from services.api.changes import (
    Patched,
    TokenChange,
    apply_patch,
    changed_paths,
    check_in_place,
    current_body,
    desired_changes,
    generation_matches,
    gpu_readmission,
    if_match_tags,
    metadata_changes,
    request_body,
    secrets_paths,
    touches_cluster,
)
from services.api.cluster_models import ClusterModels, Rendered
from services.api.documents import (
    ACCEPTED_CONDITION,
    accepted_condition,
    new_model_document,
    stored_config,
    update_entry,
)
from services.api.gates import check_cluster, check_names_free
from services.api.history import FeedFilter, HistoryPage
from services.api.identifiers import PublicIdCollisionError, new_public_id, parse_model_id
from services.api.listing import ModelFilter, ModelPage, WorkloadFilter
from services.api.ports import (
    ClusterInventory,
    EventFeed,
    EventFeeds,
    GpuAdmissions,
    ModelHistory,
    ModelRegistry,
    Outbox,
)
from services.api.ratelimit import TokenBuckets
from services.api.records import ModelDetails, ModelRecord, StoredModel
from services.api.requests import CreateModelRequest, DeploymentConfigRequest
from services.api.rules import check_served_model_name
from services.api.transitions import Status
from shared import tracing
from shared.errors import (
    CrdMissingError,
    GenerationMismatchError,
    GpuQuotaExceededError,
    InsufficientResourcesError,
    InventoryUnavailableError,
    ModelBeingDeletedError,
    ModelNameTakenError,
    ModelNotFoundError,
    NotInClusterError,
    ObjectNotOursError,
    RateLimitedError,
)
from shared.model_spec import Requirements
from shared.names import DEFAULT_NAMESPACE
from shared.placement import (
    gpu_type,
    gpus_per_replica,
    min_vram_bytes,
    most_replicas,
    per_gpu_memory_mib,
    starting_replicas,
)
from shared.quantity import whole_gi
from shared.queries import StatusReply
from shared.records import Document
from shared.secrets import TokenCipher

log = logging.getLogger(__name__)
_Read = TypeVar("_Read", ModelRecord, ModelDetails, StoredModel)
_PUBLIC_ID_ATTEMPTS = 3
REFUSALS_AFTER_A_TAKEN_NAME = (
    ObjectNotOursError,
    InventoryUnavailableError,
    NotInClusterError,
    CrdMissingError,
    GenerationMismatchError,
    GpuQuotaExceededError,
    InsufficientResourcesError,
)


@dataclass(frozen=True, slots=True)
class Models:
    registry: ModelRegistry
    admissions: GpuAdmissions
    inventory: ClusterInventory
    relay: Outbox
    cipher: TokenCipher
    creates: TokenBuckets
    """Each API key's creates: beyond the rate, 429 with `Retry-After`."""
    cluster_models: ClusterModels
    history: ModelHistory
    feeds: EventFeeds

    async def create(
        self, request: CreateModelRequest, *, organization_id: int, key_id: str
    ) -> ModelRecord:
        retry_after = self.creates.take(key_id)
        if retry_after:
            raise RateLimitedError(retry_after_seconds=retry_after)
        config = request.deployment_config
        check_served_model_name(name=request.name, config=config)
        gpus = gpus_per_replica(request.requirements, config)  # a 400 when it contradicts itself
        try:
            status = await self.inventory.status(fresh=False)
            check_names_free(status, request)
            check_cluster(status, request)
        except REFUSALS_AFTER_A_TAKEN_NAME:
            await self._refuse_a_taken_name(request)
            raise
        token = config.hugging_face_token
        secret_env = config.secret_env()
        secrets = {
            "hf_token_encrypted": self.cipher.encrypt(token) if token is not None else None,
            "secret_env_encrypted": self.cipher.encrypt_values(secret_env) if secret_env else None,
        }
        model_id = await self.registry.next_id()
        traceparent = tracing.current.get()
        for attempt in range(_PUBLIC_ID_ATTEMPTS):
            now = datetime.now(UTC)
            public_id = new_public_id()

            def build(plan: Plan, public_id: str = public_id, now: datetime = now) -> Document:
                fields = reservation_fields(plan)
                document = new_model_document(
                    request,
                    model_id=model_id,
                    public_id=public_id,
                    organization_id=organization_id,
                    planned_nodes=fields["planned_nodes"],
                    now=now,
                    due_at=now + self.relay.grace,
                    traceparent=traceparent,
                    **secrets,
                )
                return {
                    **document,
                    **fields,
                    "gpus_per_replica": gpus,
                    "quota_gpus": gpus * most_replicas(config),
                }

            try:
                if gpus == 0:
                    stored = await self.registry.insert(build([]))
                else:
                    stored = await self._admit(build, request, organization_id, gpus)
            except PublicIdCollisionError:
                if attempt + 1 == _PUBLIC_ID_ATTEMPTS:
                    raise
                continue
            break
        outbox = _pending(stored)
        log.info(
            "model accepted",
            extra={
                "public_id": stored.record.public_id,
                "organization_id": organization_id,
                "msg_id": outbox["msg_id"],
                "planned_nodes": list(stored.planned_nodes),
            },
        )
        self.relay.kick(stored.document_id, outbox)
        return stored.record

    async def _admit(
        self,
        build: Callable[[Plan], Document],
        request: CreateModelRequest,
        organization_id: int,
        gpus: int,
    ) -> StoredModel:
        """Quota, placement and reservation with the insert, in one transaction."""
        config, requirements = request.deployment_config, request.requirements
        ask = Ask(
            gpus=gpus,
            replicas=starting_replicas(config),
            memory_mib=per_gpu_memory_mib(requirements, gpus),
            gpu_type=gpu_type(requirements),
        )
        try:
            stored = await self.admissions.admit(
                build,
                organization_id=organization_id,
                ask=ask,
                quota_gpus=gpus * most_replicas(config),
                cluster=self._admission_status,
                min_vram_bytes=min_vram_bytes(requirements),
            )
        except REFUSALS_AFTER_A_TAKEN_NAME:
            await self._refuse_a_taken_name(request)
            raise
        self.registry.remember(stored)
        return stored

    async def _admission_status(self) -> StatusReply:
        """The status an admission plans with: asked in its turn, or one asked less than
        `ADMISSION_STATUS_AGE` ago (see there)."""
        return await self.inventory.status(max_age=ADMISSION_STATUS_AGE)

    async def _refuse_a_taken_name(self, request: CreateModelRequest) -> None:
        """The order of checks: a taken name (409) comes before someone else's object of
        that name, an unavailable inventory, a missing cluster or CRD, a quota or no fitting
        node. Read only when one
        of those refuses the create: a create that passes them learns it from the insert."""
        if await self.registry.name_taken(namespace=DEFAULT_NAMESPACE, name=request.name):
            raise ModelNameTakenError(name=request.name, namespace=DEFAULT_NAMESPACE)

    async def cluster_status(self, *, organization_id: int) -> tuple[Any, dict[str, Any]]:
        """`/status`'s `cluster_status` (the inventory's, with the reservations admission
        holds per node) and the organization's `quota` object."""
        status = await self.inventory.status()
        reserved = reserved_by_node(await self.admissions.reserved(), status.bound_gpus)
        limit, used = await self.admissions.usage(organization_id)
        quota = {"gpus": {"limit": limit, "used": used}}
        if not reserved:
            return self.inventory.cluster_status_json(status), quota
        memory = {node.node_name: node.gpu_memory_mib for node in status.placement}
        cluster = status.cluster_status.model_dump(mode="json")
        for node in cluster["gpu_nodes"]:
            held = reserved.get(node["node_name"], 0)
            if held:
                node["reserved_gpus"] = held
                node["free_gpus"] = max(0, node["free_gpus"] - held)
                node["available_vram"] = whole_gi(
                    node["free_gpus"] * memory.get(node["node_name"], 0)
                )
        return cluster, quota

    async def page(
        self, *, organization_id: int, where: ModelFilter, limit: int, offset: int
    ) -> ModelPage:
        """`GET /models`: a page of the organization's models `where` admits, by id;
        a `limit` outside 0..1000 or a negative `offset` is a 400."""
        window = listing.page(limit=limit, offset=offset)
        models, total = await self.registry.page(
            organization_id, limit=limit, offset=offset, where=where
        )
        return ModelPage(models, total, window.next_offset(shown=len(models), total=total))

    async def all_models(
        self, *, organization_id: int, where: WorkloadFilter, limit: int | None, offset: int
    ) -> Rendered:
        """`/all`'s body and entity tag: every model Deployment (or a page of them: no
        `limit`, all from `offset`), the caller's own with their registry fields."""
        window = listing.page(limit=limit, offset=offset, required=False)
        return await self.cluster_models.render(organization_id, where=where, window=window)

    async def events(
        self, raw_id: str, *, organization_id: int, limit: int, after: int | None
    ) -> HistoryPage:
        """A page of the model's events, oldest first: `limit` (1..1000) of them after
        stream sequence `after` (none: from the first). 404 when it is not theirs."""
        limit, after = listing.history_page(limit=limit, after=after)
        model = await self.get(raw_id, organization_id=organization_id)
        assert model.created_at is not None  # every writer sets it
        return await self.history.page(
            organization_id=model.organization_id,
            name=model.name,
            public_id=model.public_id,
            created_at=model.created_at,
            after=after,
            limit=limit,
        )

    async def open_feed(
        self, *, organization_id: int, model: str | None, after: int | None
    ) -> EventFeed:
        """A feed of the organization's new events, or of one model's (404 when it is not
        theirs), after sequence `after`. Subscribed before it returns, so a stream that
        answers 200 afterwards misses nothing published after that."""
        which = FeedFilter(organization_id=organization_id)
        if model is not None:
            found = await self.get(model, organization_id=organization_id)
            which = FeedFilter(
                organization_id=organization_id, model_name=found.name, public_id=found.public_id
            )
        return await self.feeds.open(which, after=after)

    async def get(self, raw_id: str, *, organization_id: int) -> ModelRecord:
        return await self._found(raw_id, organization_id=organization_id, read=self.registry.get)

    async def details(self, raw_id: str, *, organization_id: int) -> ModelDetails:
        """The model with its desired deployment config, as its details show it."""
        return await self._found(
            raw_id, organization_id=organization_id, read=self.registry.details
        )

    async def _found(
        self,
        raw_id: str,
        *,
        organization_id: int,
        read: Callable[[int, int | str], Awaitable[_Read | None]],
    ) -> _Read:
        """The model `read` finds by its id or public id, else 404."""
        model = parse_model_id(raw_id)
        found = None if model is None else await read(organization_id, model)
        if found is None:
            raise ModelNotFoundError(raw_id)
        return found

    # --- day two: change and restart ----------------------------------------------------

    async def update(
        self,
        raw_id: str,
        patch: object,
        *,
        organization_id: int,
        if_match: str | None = None,
    ) -> ModelDetails:
        """A merge patch over the create body: the create rules for the result, then one
        guarded write. Metadata alone keeps the generation and reaches no cluster object;
        anything else is a new generation, `updating`, applied through the outbox."""
        updated = await self._update(
            raw_id, patch, organization_id=organization_id, if_match=if_match
        )
        return updated.details()

    async def _update(
        self, raw_id: str, patch: object, *, organization_id: int, if_match: str | None
    ) -> StoredModel:
        model = await self._changeable(raw_id, organization_id, if_match)
        patched = apply_patch(model, patch)
        request = CreateModelRequest.model_validate(patched.body)  # a 400 per create rule
        config = request.deployment_config
        check_served_model_name(name=request.name, config=config)
        gpus = gpus_per_replica(request.requirements, config)
        check_in_place(stored_config(model), config.spec())
        changed = changed_paths(current_body(model), request_body(request))
        secrets = self._secret_changes(model, patched, config)
        changed += [path for path in secrets_paths(secrets) if path not in changed]
        if not changed:
            return model
        now = datetime.now(UTC)
        fields = metadata_changes(request, now=now)
        if not touches_cluster(changed):
            return await self._store(model, fields)
        check_cluster(await self.inventory.status(fresh=False), request)
        fields |= desired_changes(model, request, patched, secrets=secrets, gpus=gpus)
        return await self._new_generation(model, fields, changed=changed, now=now)

    async def restart(self, raw_id: str, *, organization_id: int) -> ModelDetails:
        """A new generation whose pods carry a new `jan-models/restarted-at`: the pods
        roll, and a `failed` model is tried again."""
        model = await self._changeable(raw_id, organization_id, None)
        now = datetime.now(UTC)
        # MongoDB keeps milliseconds: the stamp every later generation re-applies must be
        # the one this generation applies, or each of them would roll the pods again
        stamp = now.replace(microsecond=now.microsecond - now.microsecond % 1000)
        fields = {"restarted_at": stamp, "updated_at": now}
        updated = await self._new_generation(model, fields, changed=["restart"], now=now)
        return updated.details()

    async def _changeable(
        self, raw_id: str, organization_id: int, if_match: str | None
    ) -> StoredModel:
        tags = None if if_match is None else if_match_tags(if_match)
        model = await self._found(
            raw_id, organization_id=organization_id, read=self.registry.editable
        )
        generation = model.record.generation
        if model.record.status == Status.DELETING:
            raise ModelBeingDeletedError
        if tags is not None and not generation_matches(tags, generation):
            raise GenerationMismatchError(generation=generation)
        return model

    def _secret_changes(
        self, model: StoredModel, patched: Patched, config: DeploymentConfigRequest
    ) -> Document:
        """The encrypted fields to store: only those whose clear value really changed."""
        changes: Document = {}
        stored_token = model.hf_token_encrypted
        if patched.token is TokenChange.DROP and stored_token is not None:
            changes["hf_token_encrypted"] = None
        token = config.hugging_face_token
        if patched.token is TokenChange.SET and token is not None:
            same = stored_token is not None and self.cipher.decrypt(stored_token) == token
            if not same:
                changes["hf_token_encrypted"] = self.cipher.encrypt(token)
        if patched.extra_env_given:
            stored_env = model.secret_env_encrypted
            old = self.cipher.decrypt_values(stored_env) if stored_env else {}
            new = config.secret_env()
            if old != new:
                changes["secret_env_encrypted"] = self.cipher.encrypt_values(new) if new else None
        return changes

    async def _new_generation(
        self, model: StoredModel, fields: Document, *, changed: list[str], now: datetime
    ) -> StoredModel:
        """Bump the generation, set `updating` and the apply command in one guarded write;
        readmitted in the admission's transaction when the change adds GPUs."""
        generation = model.record.generation + 1
        after = model.changed(fields)
        changes = fields | {
            "generation": generation,
            "status": Status.UPDATING.value,
            "status_reason": None,
            "outbox": update_entry(
                after,
                generation=generation,
                changed=changed,
                now=now,
                due_at=now + self.relay.grace,
            ),
        }
        accepted = accepted_condition(model, generation=generation, now=now)
        if accepted is not None:
            changes[ACCEPTED_CONDITION] = accepted
        readmission = gpu_readmission(model, after, changed=changed)
        if readmission is None:
            updated = await self.registry.change(model, changes)
        else:

            def with_plan(plan: Plan) -> Document:
                placed = reservation_fields(plan, surge=readmission.surge)
                placed["released_at"] = None
                if not readmission.rolls:
                    placed.pop("planned_nodes")  # the pods stay: their affinity too
                entry = update_entry(
                    after.changed(placed),
                    generation=generation,
                    changed=changed,
                    now=now,
                    due_at=now + self.relay.grace,
                )
                return changes | placed | {"outbox": entry}

            requirements = Requirements.model_validate(after.record.requirements or {})
            updated = await self.admissions.readmit(
                model,
                with_plan,
                ask=readmission.ask,
                surge=readmission.surge,
                quota_gpus=after.record.quota_gpus,
                cluster=self._admission_status,
                min_vram_bytes=min_vram_bytes(requirements),
            )
            if updated is not None:
                self.registry.remember(updated)
        if updated is None:
            await self._changed_meanwhile(model)
        assert updated is not None
        outbox = _pending(updated)
        log.info(
            "model updating",
            extra={
                "public_id": updated.record.public_id,
                "generation": generation,
                "changed": changed,
                "msg_id": outbox["msg_id"],
            },
        )
        self.relay.kick(updated.document_id, outbox)
        return updated

    async def _store(self, model: StoredModel, fields: Document) -> StoredModel:
        updated = await self.registry.change(model, fields)
        if updated is None:
            await self._changed_meanwhile(model)
        assert updated is not None
        return updated

    async def _changed_meanwhile(self, model: StoredModel) -> NoReturn:
        """A guarded change found the model changed since it was read: say how."""
        record = model.record
        current = await self.registry.editable(record.organization_id, record.id)
        if current is None:
            raise ModelNotFoundError(record.public_id)
        if current.record.status == Status.DELETING:
            raise ModelBeingDeletedError
        raise GenerationMismatchError(generation=current.record.generation)

    async def delete(self, raw_id: str, *, organization_id: int) -> None:
        model = parse_model_id(raw_id)
        now = datetime.now(UTC)
        deleting = (
            None
            if model is None
            else await self.registry.mark_deleting(organization_id, model, now=now)
        )
        if deleting is None:
            raise ModelNotFoundError(raw_id)
        outbox = deleting.outbox
        log.info(
            "model deleting",
            extra={
                "public_id": deleting.record.public_id,
                "msg_id": outbox["msg_id"] if outbox else None,
            },
        )
        if outbox:
            self.relay.kick(deleting.document_id, outbox)


def _pending(model: StoredModel) -> Document:
    """The outbox entry a write just stored with the model (every create and new
    generation stores one)."""
    assert model.outbox is not None
    return model.outbox
