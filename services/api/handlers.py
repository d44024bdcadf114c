"""What each write endpoint does, apart from HTTP: the checks in order, then one write.

Create: the request's cross-field rules and GPU ask (400), an object the model would own
that is someone else's (409), the inventory's availability (503) and the cluster gates
(403), then one write that carries the pending command. A
model that asks for GPUs is admitted in one transaction with its organization's quota
(403), its placement on eligible nodes (400 when none fits) and its reservation
(`adapters/admissions.py`); a model without GPUs is one plain insert. The unique index
on (namespace, name) answers a taken name (409) with no extra read, also for two creates
racing. The relay publishes without the caller waiting on NATS.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.api.adapters.admissions import Admissions, reservation_fields
from services.api.adapters.inventory import Inventory
from services.api.adapters.registry import PublicIdCollisionError, Registry
from services.api.adapters.relay import OutboxRelay
from services.api.admission import Ask, Plan, reserved_by_node
from services.api.documents import new_model_document
from services.api.gates import check_cluster, check_names_free
from services.api.identifiers import new_public_id, parse_model_id
from services.api.requests import CreateModelRequest
from services.api.rules import check_served_model_name
from shared.database import Document
from shared.errors import (
    CrdMissingError,
    GpuQuotaExceededError,
    InsufficientResourcesError,
    InventoryUnavailableError,
    ModelNameTakenError,
    ModelNotFoundError,
    NotInClusterError,
    ObjectNotOursError,
)
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
from shared.secrets import TokenCipher

log = logging.getLogger(__name__)
_PUBLIC_ID_ATTEMPTS = 3
REFUSALS_AFTER_A_TAKEN_NAME = (
    ObjectNotOursError,
    InventoryUnavailableError,
    NotInClusterError,
    CrdMissingError,
    GpuQuotaExceededError,
    InsufficientResourcesError,
)


@dataclass(frozen=True, slots=True)
class Models:
    registry: Registry
    admissions: Admissions
    inventory: Inventory
    relay: OutboxRelay
    cipher: TokenCipher

    async def create(self, request: CreateModelRequest, *, organization_id: int) -> Document:
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
                    document = build([])
                    await self.registry.insert(document)
                else:
                    document = await self._admit(build, request, organization_id, gpus)
            except PublicIdCollisionError:
                if attempt + 1 == _PUBLIC_ID_ATTEMPTS:
                    raise
                continue
            break
        log.info(
            "model accepted",
            extra={
                "public_id": document["public_id"],
                "organization_id": organization_id,
                "msg_id": document["outbox"]["msg_id"],
                "planned_nodes": document["planned_nodes"],
            },
        )
        self.relay.kick(document["_id"], document["outbox"])
        return document

    async def _admit(
        self,
        build: Callable[[Plan], Document],
        request: CreateModelRequest,
        organization_id: int,
        gpus: int,
    ) -> Document:
        """Quota, placement and reservation with the insert, in one transaction."""
        config, requirements = request.deployment_config, request.requirements
        ask = Ask(
            gpus=gpus,
            replicas=starting_replicas(config),
            memory_mib=per_gpu_memory_mib(requirements, gpus),
            gpu_type=gpu_type(requirements),
        )
        try:
            document = await self.admissions.admit(
                build,
                organization_id=organization_id,
                ask=ask,
                quota_gpus=gpus * most_replicas(config),
                cluster=self.inventory.status,
                min_vram_bytes=min_vram_bytes(requirements),
            )
        except REFUSALS_AFTER_A_TAKEN_NAME:
            await self._refuse_a_taken_name(request)
            raise
        self.registry.remember(document)
        return document

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

    async def get(self, raw_id: str, *, organization_id: int) -> Document:
        model = parse_model_id(raw_id)
        document = None if model is None else await self.registry.get(organization_id, model)
        if document is None:
            raise ModelNotFoundError(raw_id)
        return document

    async def delete(self, raw_id: str, *, organization_id: int) -> None:
        model = parse_model_id(raw_id)
        now = datetime.now(UTC)
        document = (
            None
            if model is None
            else await self.registry.mark_deleting(organization_id, model, now=now)
        )
        if document is None:
            raise ModelNotFoundError(raw_id)
        outbox = document.get("outbox")
        log.info(
            "model deleting",
            extra={
                "public_id": document["public_id"],
                "msg_id": outbox["msg_id"] if outbox else None,
            },
        )
        if outbox:
            self.relay.kick(document["_id"], outbox)
