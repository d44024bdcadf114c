"""The registry as Prometheus sees it: gauges read from the registry cache at scrape time.

Cardinality is bounded by organizations x statuses (eight lifecycle statuses), never by
requests. Every family is yielded even when empty.
"""

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from services.api.adapters.admissions import QuotaLimits
from services.api.adapters.registry_cache import RegistryCache
from shared.exposition import Followed

Metered = tuple[RegistryCache, QuotaLimits]
"""What one api contributes: its registry cache and the quota limits it last read."""


class RegistryCollector(Followed[Metered], Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        models = GaugeMetricFamily(
            "jan_models_models",
            "Managed models in the registry, by organization and lifecycle status",
            labels=["organization_id", "status"],
        )
        quota = GaugeMetricFamily(
            "jan_models_quota_gpus",
            "GPU quota per organization: limit, used and reserved",
            labels=["organization_id", "kind"],
        )
        pending = GaugeMetricFamily(
            "jan_models_api_outbox_pending", "Commands written to the outbox, not yet published"
        )
        oldest = GaugeMetricFamily(
            "jan_models_api_outbox_oldest_seconds",
            "Age of the oldest command still in the outbox (0 when none)",
        )
        now = datetime.now(UTC)
        counts: Counter[tuple[str, str]] = Counter()
        used: Counter[int] = Counter()
        reserved: Counter[int] = Counter()
        limits: dict[int, int] = {}
        waiting: list[datetime] = []
        for cache, quota_limits in self.views:
            for model in cache.records():
                organization = model.organization_id
                counts[(str(organization), model.status)] += 1
                used[organization] += model.quota_gpus
            for model in cache.reserving(now):
                reserved[model.organization_id] += sum(entry.gpus for entry in model.reservation)
            waiting.extend(cache.pending_since.values())
            limits.update(quota_limits.limits)
        for labels, count in sorted(counts.items()):
            models.add_metric(list(labels), count)
        for organization in sorted(set(limits) | {o for o, n in used.items() if n}):
            if organization in limits:
                quota.add_metric([str(organization), "limit"], limits[organization])
            quota.add_metric([str(organization), "used"], used[organization])
            quota.add_metric([str(organization), "reserved"], reserved[organization])
        if self.views:
            pending.add_metric([], len(waiting))
            oldest.add_metric([], max(((now - at).total_seconds() for at in waiting), default=0))
        yield from (models, quota, pending, oldest)


COLLECTOR: Final = RegistryCollector()
REGISTRY.register(COLLECTOR)
