"""The registry as Prometheus sees it: gauges read from the registry view at scrape time.

Cardinality is bounded by organizations x statuses (eight lifecycle statuses), never by
requests. Every family is yielded even when empty.
"""

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from services.api.adapters.registry_view import RegistryView
from shared.exposition import Followed


class RegistryCollector(Followed[RegistryView], Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        models = GaugeMetricFamily(
            "jan_models_models",
            "Managed models in the registry, by organization and lifecycle status",
            labels=["organization_id", "status"],
        )
        # Quotas and reservations will live in the api's admission (`organization_quotas`
        # and its reservations); the family is exported, empty, until they exist.
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
        counts: Counter[tuple[str, str]] = Counter()
        waiting: list[datetime] = []
        for view in self.views:
            for document in view.documents():
                counts[(str(document["organization_id"]), str(document["status"]))] += 1
            waiting.extend(view.pending_since.values())
        for labels, count in sorted(counts.items()):
            models.add_metric(list(labels), count)
        if self.views:
            now = datetime.now(UTC)
            pending.add_metric([], len(waiting))
            oldest.add_metric([], max(((now - at).total_seconds() for at in waiting), default=0))
        yield from (models, quota, pending, oldest)


COLLECTOR: Final = RegistryCollector()
REGISTRY.register(COLLECTOR)
