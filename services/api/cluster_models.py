"""`/all`: every model Deployment the inventory sees, with the caller's own registry fields.

A body is rendered once per change and kept per organization with its entity tag: what
it was built from (the inventory's page versions, the registry's read version, the
filter and the page) is its key, so a repeated or conditional `/all` costs a comparison.
While the registry has no read version (its in-memory copy is not ready, reads go to
MongoDB) nothing is kept. Both reach the outside world through ports.
"""

from dataclasses import dataclass
from typing import Final

import orjson

from services.api.listing import Page, WorkloadFilter
from services.api.ports import ClusterInventory, ModelRegistry
from services.api.views import all_entry, entity_tag

ORGANIZATIONS_KEPT: Final = 256


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    etag: str


class ClusterModels:
    def __init__(self, *, inventory: ClusterInventory, registry: ModelRegistry) -> None:
        self.inventory = inventory
        self.registry = registry
        self._rendered: dict[int, tuple[object, Rendered]] = {}

    async def render(
        self, organization_id: int, *, where: WorkloadFilter, window: Page
    ) -> Rendered:
        entries, pages = await self.inventory.models()
        version = self.registry.read_version
        key = (pages, version, where, window)
        kept = self._rendered.get(organization_id)
        if version is not None and kept is not None and kept[0] == key:
            return kept[1]
        mine = [
            entry.public_id
            for entry in entries
            if entry.is_managed and entry.public_id and entry.organization_id == organization_id
        ]
        own = await self.registry.own_models(organization_id, mine) if mine else {}
        models = [all_entry(e, organization_id=organization_id, own=own) for e in entries]
        models = [m for m in models if where.matches(m)]
        shown = window.window(models)
        next_offset = window.next_offset(shown=len(shown), total=len(models))
        body = orjson.dumps({"models": shown, "total": len(models), "next_offset": next_offset})
        rendered = Rendered(body=body, etag=entity_tag(body))
        if version is not None:
            if len(self._rendered) >= ORGANIZATIONS_KEPT:
                self._rendered.clear()
            self._rendered[organization_id] = (key, rendered)
        return rendered
