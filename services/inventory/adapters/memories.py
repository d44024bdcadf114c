"""Persists the lifecycle memory (last emitted state, deletion marks) per model.

A restart reloads it, so it neither re-emits every model's state nor forgets that a
model is being deleted.
"""

from dataclasses import asdict

from pymongo import ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from services.inventory.emissions import ModelIdentity, ModelMemory
from services.inventory.objects import OwnedRef
from shared.names import Collection
from shared.records import Document
from shared.transactions import TransactionSessions, bulk_write_in_one_commit


def memory_document(memory: ModelMemory) -> Document:
    document = asdict(memory)
    document["_id"] = memory.public_id
    return document


def memory_from_document(document: Document) -> ModelMemory:
    identity = document.get("identity")
    return ModelMemory(
        public_id=document["_id"],
        identity=ModelIdentity(**identity) if identity else None,
        state=document.get("state", "none"),
        replicas=document.get("replicas"),
        ready_replicas=document.get("ready_replicas"),
        present=bool(document.get("present")),
        deleting=bool(document.get("deleting")),
        gone_since=document.get("gone_since"),
        sequence=document.get("sequence", 0),
        failure=document.get("failure", ""),
        owned=tuple(OwnedRef(**ref) for ref in document.get("owned") or ()),
        missing_since=document.get("missing_since"),
    )


class MemoryStore:
    def __init__(
        self, db: AsyncDatabase[Document], *, transactions: TransactionSessions | None = None
    ) -> None:
        self.collection = db[Collection.INVENTORY_MODELS]
        self.transactions = transactions

    async def load(self) -> list[ModelMemory]:
        return [memory_from_document(doc) async for doc in self.collection.find({})]

    async def save(self, memories: list[ModelMemory]) -> None:
        """All of them in one commit (a commit per document costs the embedded server an
        fsync each); a failure stores none of them. The transaction runs in the registered
        session (`transactions`), which is killed if this process dies inside it."""
        if memories:
            await bulk_write_in_one_commit(
                self.collection,
                [
                    ReplaceOne({"_id": m.public_id}, memory_document(m), upsert=True)
                    for m in memories
                ],
                self.transactions,
            )
