"""GPU quotas per organization (`organization_quotas`): `{_id: <organization id>, gpus: G}`.

No document means unlimited. This is how operators set it (`jan-models quota`). Every
change also writes the whole set of limits into the admission ledger
(`admissions/gpus`, field `limits`), in the same transaction: an admission takes the
ledger as its first statement anyway, so it learns every limit from that answer instead
of reading the quota in a round trip of its own, and a change of quota conflicts with
an admission running at the same moment instead of slipping past it. A ledger without
`limits` (a database from before) is filled from this collection by the first
admission (`sync_ledger_limits`), and the admissions read the quota here until then.
"""

from dataclasses import dataclass
from typing import Final

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from shared.names import Collection
from shared.records import Document
from shared.transactions import write_in_transaction

LEDGER_ID: Final = "gpus"
"""The admission ledger's one document (`admissions` collection)."""


@dataclass(frozen=True, slots=True)
class Quota:
    organization_id: int
    gpus: int


async def sync_ledger_limits(
    db: AsyncDatabase[Document], session: AsyncClientSession | None
) -> None:
    """The ledger's `limits` set to every quota, as this session reads them (`{"<org>": G}`)."""
    limits = {
        str(organization): gpus for organization, gpus in (await _quotas(db, session)).items()
    }
    await db[Collection.ADMISSIONS].update_one(
        {"_id": LEDGER_ID}, {"$set": {"limits": limits}}, upsert=True, session=session
    )


def ledger_limits(ledger: Document) -> dict[int, int] | None:
    """Organization id -> GPU limit, from the ledger as an admission took it; None when
    the ledger has no limits yet (read the quota collection instead)."""
    limits = ledger.get("limits")
    if not isinstance(limits, dict):
        return None
    return {int(organization): int(gpus) for organization, gpus in limits.items()}


async def read_limits(
    db: AsyncDatabase[Document], session: AsyncClientSession | None
) -> dict[int, int]:
    """Every organization's limit as the admissions enforce it: the ledger's, or the
    quota collection's while the ledger holds none yet (what `/status` and the metrics
    show, so they never name a limit admission does not apply)."""
    ledger = await db[Collection.ADMISSIONS].find_one(
        {"_id": LEDGER_ID}, {"limits": 1}, session=session
    )
    limits = ledger_limits(ledger) if ledger is not None else None
    return limits if limits is not None else await _quotas(db, session)


async def _quotas(
    db: AsyncDatabase[Document], session: AsyncClientSession | None
) -> dict[int, int]:
    return {
        int(document["_id"]): int(document["gpus"])
        async for document in db[Collection.ORGANIZATION_QUOTAS].find({}, session=session)
    }


class OrganizationQuotas:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._quotas = db[Collection.ORGANIZATION_QUOTAS]

    async def set(self, organization_id: int, *, gpus: int) -> Quota:
        if gpus < 0:
            raise ValueError(f"a GPU quota cannot be negative, got {gpus}")

        async def write(session: AsyncClientSession | None) -> None:
            await self._quotas.update_one(
                {"_id": organization_id}, {"$set": {"gpus": gpus}}, upsert=True, session=session
            )
            await sync_ledger_limits(self._db, session)

        await write_in_transaction(self._quotas, write)
        return Quota(organization_id=organization_id, gpus=gpus)

    async def all(self) -> list[Quota]:
        cursor = self._quotas.find({}).sort("_id", 1)
        return [Quota(organization_id=int(d["_id"]), gpus=int(d["gpus"])) async for d in cursor]

    async def clear(self, organization_id: int) -> bool:
        """True when there was a quota; the organization is unlimited from then on."""

        async def write(session: AsyncClientSession | None) -> bool:
            deleted = await self._quotas.delete_one({"_id": organization_id}, session=session)
            await sync_ledger_limits(self._db, session)
            return deleted.deleted_count == 1

        return await write_in_transaction(self._quotas, write)
