"""GPU quotas per organization (`organization_quotas`): `{_id: <organization id>, gpus: G}`.

No document means unlimited. Admission reads the limit inside its transaction
(`adapters/admissions.py`); this is how operators set it (`jan-models quota`).
"""

from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from shared.names import Collection
from shared.records import Document


@dataclass(frozen=True, slots=True)
class Quota:
    organization_id: int
    gpus: int


class OrganizationQuotas:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._quotas = db[Collection.ORGANIZATION_QUOTAS]

    async def set(self, organization_id: int, *, gpus: int) -> Quota:
        if gpus < 0:
            raise ValueError(f"a GPU quota cannot be negative, got {gpus}")
        await self._quotas.update_one(
            {"_id": organization_id}, {"$set": {"gpus": gpus}}, upsert=True
        )
        return Quota(organization_id=organization_id, gpus=gpus)

    async def all(self) -> list[Quota]:
        cursor = self._quotas.find({}).sort("_id", 1)
        return [Quota(organization_id=int(d["_id"]), gpus=int(d["gpus"])) async for d in cursor]

    async def clear(self, organization_id: int) -> bool:
        """True when there was a quota; the organization is unlimited from then on."""
        return (await self._quotas.delete_one({"_id": organization_id})).deleted_count == 1
