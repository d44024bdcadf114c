"""What each write endpoint does, apart from HTTP: the checks in order, then one write.

Create: the request's cross-field rules (400), the cluster gates from the inventory's
status (403), GPU capacity (400), then one insert that carries the pending command; the
unique index on (namespace, name) answers a taken name (409) with no extra read, also
for two creates racing. The relay publishes without the caller waiting on NATS.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from services.api.adapters.inventory import Inventory
from services.api.adapters.registry import PublicIdCollisionError, Registry
from services.api.adapters.relay import OutboxRelay
from services.api.documents import new_model_document
from services.api.gates import capacity_query, check_capacity, check_cluster
from services.api.identifiers import new_public_id, parse_model_id
from services.api.requests import CreateModelRequest
from services.api.rules import check_served_model_name
from shared.database import Document
from shared.errors import ModelNotFoundError
from shared.placement import gpus_per_replica
from shared.secrets import TokenCipher

log = logging.getLogger(__name__)
_PUBLIC_ID_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Models:
    registry: Registry
    inventory: Inventory
    relay: OutboxRelay
    cipher: TokenCipher

    async def create(self, request: CreateModelRequest, *, organization_id: int) -> Document:
        config = request.deployment_config
        check_served_model_name(name=request.name, config=config)
        gpus_per_replica(request.requirements, config)  # a 400 when the ask contradicts itself
        check_cluster(await self.inventory.status(fresh=False), request)
        query = capacity_query(request)
        if query is not None:
            check_capacity(query, await self.inventory.capacity(query))
        token = config.hugging_face_token
        encrypted = self.cipher.encrypt(token) if token is not None else None
        secret_env = config.secret_env()
        secret_env_encrypted = self.cipher.encrypt_values(secret_env) if secret_env else None
        model_id = await self.registry.next_id()
        for attempt in range(_PUBLIC_ID_ATTEMPTS):
            now = datetime.now(UTC)
            document = new_model_document(
                request,
                model_id=model_id,
                public_id=new_public_id(),
                organization_id=organization_id,
                hf_token_encrypted=encrypted,
                secret_env_encrypted=secret_env_encrypted,
                now=now,
                due_at=now + self.relay.grace,
            )
            try:
                await self.registry.insert(document)
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
            },
        )
        self.relay.kick(document["_id"], document["outbox"])
        return document

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
