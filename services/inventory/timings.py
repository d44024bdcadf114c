"""How long a model Deployment takes from creation to its first `running`.

Observed once per Deployment (a re-created one, after a drift repair, counts again from
its own creation); later transitions of the same Deployment (degraded, running again)
are not time to running.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime

from prometheus_client import Histogram

from services.inventory.objects import ObservedWorkload
from shared.events import CloudEvent, ModelRunning

TIME_TO_RUNNING = Histogram(
    "jan_models_model_time_to_running_seconds",
    "From a model Deployment's creation to its first running event",
    buckets=(5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)


class TimeToRunning:
    def __init__(self, histogram: Histogram = TIME_TO_RUNNING) -> None:
        self.histogram = histogram
        self._observed: dict[str, datetime] = {}  # workload key -> creation already timed

    def observe(
        self,
        events: Iterable[CloudEvent],
        workloads: Mapping[str, ObservedWorkload],
        *,
        now: datetime,
    ) -> None:
        for event in events:
            if not isinstance(event, ModelRunning):
                continue
            key = f"{event.data.namespace}/{event.data.name}"
            workload = workloads.get(key)
            if workload is None or workload.created_at is None:
                continue
            if self._observed.get(key) == workload.created_at:
                continue
            self._observed[key] = workload.created_at
            self.histogram.observe(max(0.0, (now - workload.created_at).total_seconds()))
        if len(self._observed) > len(workloads):  # forget Deployments that are gone
            self._observed = {k: v for k, v in self._observed.items() if k in workloads}
