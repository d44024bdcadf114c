"""The cluster as Prometheus sees it: gauges read from the in-memory view at scrape time.

Nothing is pushed on change: a scrape walks the view once (nodes, then workloads), so
what it reports is exact at that moment and costs nothing between scrapes. Every family
is yielded even when it has no sample, so dashboards and alerts can tell "none" from
"not exported".

Cardinality is bounded by the cluster, never by traffic: one series per GPU node per
GPU family, one per node for schedulability, at most |namespaces| x 2 x 4 workload
series, |namespaces| x the Kubernetes failure reasons, two per model Deployment, and
fixed sets for CRDs and watched kinds.
"""

from collections import Counter
from collections.abc import Iterator
from typing import Final

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

from services.inventory.cluster import REQUIRED_KINDS, ClusterView
from shared.crds import WATCHED_CRDS
from shared.exposition import ViewCollector

GPU_FAMILIES: Final = {
    "allocatable": "GPUs the node offers (capacity nvidia.com/gpu)",
    "allocated": "GPUs requested by the node's bound, non-terminated pods",
    "reserved": "GPUs admission has planned onto the node for models not yet bound",
    "free": "GPUs neither allocated nor reserved (whatever the node's schedulability)",
}


class ClusterCollector(ViewCollector[ClusterView]):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = Families()
        for view in self.views:
            families.add_view(view)
        yield from families.all()


class Families:
    def __init__(self) -> None:
        def gauge(name: str, text: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, text, labels=list(labels))

        self.gpus = {
            kind: gauge(f"jan_models_gpu_{kind}", text, "node", "product")
            for kind, text in GPU_FAMILIES.items()
        }
        self.memory = gauge(
            "jan_models_gpu_memory_mib", "Memory of one GPU of the node, MiB", "node", "product"
        )
        self.schedulable = gauge(
            "jan_models_node_schedulable",
            "1 when the node can take new pods (reason ready), else 0 with the reason"
            " (not_ready, cordoned, tainted)",
            "node",
            "reason",
        )
        self.workloads = gauge(
            "jan_models_workloads",
            "Model Deployments (label model.aibrix.ai/name), by managed flag and observed phase",
            "namespace",
            "managed",
            "status",
        )
        self.replicas = gauge(
            "jan_models_model_replicas",
            "Replicas of each model Deployment, desired and ready",
            "namespace",
            "name",
            "state",
        )
        self.failures = gauge(
            "jan_models_workload_failures",
            "Model Deployments judged failed, by the Kubernetes reason (ImagePullBackOff,"
            " CrashLoopBackOff, Unschedulable, ProgressDeadlineExceeded, ...)",
            "namespace",
            "reason",
        )
        self.crds = gauge(
            "jan_models_inventory_crd_present",
            "1 when the CustomResourceDefinition is installed in the cluster",
            "crd",
        )
        self.synced = gauge(
            "jan_models_inventory_watch_synced",
            "1 once the kind's first list has been taken in (and after each relist)",
            "kind",
        )

    def all(self) -> list[GaugeMetricFamily]:
        return [
            *self.gpus.values(),
            self.memory,
            self.schedulable,
            self.workloads,
            self.replicas,
            self.failures,
            self.crds,
            self.synced,
        ]

    def add_view(self, view: ClusterView) -> None:
        self._add_nodes(view)
        self._add_workloads(view)
        for name in WATCHED_CRDS:
            self.crds.add_metric([name], 1 if name in view.crds else 0)
        for kind in REQUIRED_KINDS:
            self.synced.add_metric([kind.value], 1 if kind in view.synced else 0)

    def _add_nodes(self, view: ClusterView) -> None:
        for node in view.nodes.values():
            reason = node.unschedulable_reason
            self.schedulable.add_metric([node.name, reason or "ready"], 0 if reason else 1)
            if not node.gpu_count:
                continue
            allocated = view.allocated.get(node.name, 0)
            # Reservations live in the api's admission (DESIGN section 8); until the
            # inventory learns which reserved models it has seen bound, none are known here.
            reserved = 0
            key = [node.name, node.gpu_product]
            self.gpus["allocatable"].add_metric(key, node.gpu_count)
            self.gpus["allocated"].add_metric(key, allocated)
            self.gpus["reserved"].add_metric(key, reserved)
            self.gpus["free"].add_metric(key, max(0, node.gpu_count - allocated - reserved))
            self.memory.add_metric(key, node.gpu_memory_mib)

    def _add_workloads(self, view: ClusterView) -> None:
        counts: Counter[tuple[str, str, str]] = Counter()
        failures: Counter[tuple[str, str]] = Counter()
        for key, workload in view.workloads.items():
            managed = "true" if workload.managed else "false"
            assessment = view.assessment(key)
            counts[(workload.namespace, managed, assessment.phase)] += 1
            if assessment.failure is not None:
                failures[(workload.namespace, assessment.failure.reason)] += 1
            for state, value in (
                ("desired", workload.replicas),
                ("ready", workload.ready_replicas),
            ):
                self.replicas.add_metric([workload.namespace, workload.name, state], value)
        for labels, count in sorted(counts.items()):
            self.workloads.add_metric(list(labels), count)
        for (namespace, reason), count in sorted(failures.items()):
            self.failures.add_metric([namespace, reason], count)


COLLECTOR: Final = ClusterCollector()
REGISTRY.register(COLLECTOR)
