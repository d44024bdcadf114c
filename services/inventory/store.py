"""The in-memory store of the cluster: the objects the watches show, and their indexes.

Watches feed it (`apply` for one event, `replace` for a fresh list); it keeps derived
facts incrementally (GPUs allocated per node, pods per model, each Deployment's
assessment) and tells the feeds subscribed to it what changed (see `changes`: the
projection writer's, the lifecycle tracker's and the reply cache's). Its consumers read
it through the read-only API below and never change it. It is rebuilt from fresh lists
on every start.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from services.inventory.changes import ChangeFeed
from services.inventory.health import Assessment, HealthPolicy, assess
from services.inventory.objects import (
    ObservedAutoscaler,
    ObservedCrd,
    ObservedNode,
    ObservedOwned,
    ObservedPod,
    ObservedStorageClass,
    ObservedWorkload,
    OwnedRef,
    Raw,
    object_key,
    parse_autoscaler,
    parse_crd,
    parse_node,
    parse_owned,
    parse_pod,
    parse_storage_class,
    parse_workload,
    resource_version_of,
)
from services.inventory.pod_reports import PodReport, PodWarning, log_tail
from services.inventory.resource_version import as_int, is_stale
from shared.names import DEFAULT_NAMESPACE

Observed = (
    ObservedNode
    | ObservedPod
    | ObservedWorkload
    | ObservedCrd
    | ObservedStorageClass
    | ObservedAutoscaler
    | ObservedOwned
)
"""What the store keeps of one watched object (see `objects`)."""


class Watched(StrEnum):
    """The collections the inventory watches, each kept apart in the store. Most are one
    Kubernetes kind; two are not: `POD_EVENTS` (Events about pods) and
    `FOREIGN_WORKLOADS` (Deployments that are no model's)."""

    NODES = "nodes"
    PODS = "pods"
    CRDS = "crds"
    STORAGE_CLASSES = "storageclasses"
    WORKLOADS = "workloads"
    AUTOSCALERS = "autoscalers"
    POD_EVENTS = "pod_events"
    """Warning Events about pods: kept as `pod_reports`, never projected."""
    SERVICES = "services"
    SECRETS = "secrets"
    CLAIMS = "persistentvolumeclaims"
    SERVICE_MONITORS = "servicemonitors"
    FOREIGN_WORKLOADS = "foreign_deployments"
    """Deployments in the models' namespace that carry no model id: names a model cannot take."""


REQUIRED_WATCHES: Final = (
    Watched.NODES,
    Watched.PODS,
    Watched.CRDS,
    Watched.STORAGE_CLASSES,
    Watched.WORKLOADS,
    Watched.SERVICES,
    Watched.SECRETS,
    Watched.CLAIMS,
    Watched.FOREIGN_WORKLOADS,
)
OWNED_KINDS: Final[dict[Watched, tuple[str, str]]] = {
    Watched.SECRETS: ("v1", "Secret"),
    Watched.CLAIMS: ("v1", "PersistentVolumeClaim"),
    Watched.SERVICES: ("v1", "Service"),
    Watched.FOREIGN_WORKLOADS: ("apps/v1", "Deployment"),
    Watched.SERVICE_MONITORS: ("monitoring.coreos.com/v1", "ServiceMonitor"),
    Watched.AUTOSCALERS: ("autoscaling.aibrix.ai/v1alpha1", "PodAutoscaler"),
}
"""Kinds of object a model owns besides its Deployment (and foreign Deployments), as
(apiVersion, kind), in the deployer's apply order."""
PROJECTED_WATCHES: Final = frozenset(
    {
        Watched.NODES,
        Watched.PODS,
        Watched.CRDS,
        Watched.STORAGE_CLASSES,
        Watched.WORKLOADS,
        Watched.AUTOSCALERS,
    }
)
"""Kinds written to MongoDB; the others live in memory only (a Secret's name included)."""
PARSERS: Final[dict[Watched, Callable[[Raw], Observed]]] = {
    Watched.NODES: parse_node,
    Watched.PODS: parse_pod,
    Watched.CRDS: parse_crd,
    Watched.STORAGE_CLASSES: parse_storage_class,
    Watched.WORKLOADS: parse_workload,
    Watched.AUTOSCALERS: parse_autoscaler,
    Watched.SERVICES: parse_owned,
    Watched.SECRETS: parse_owned,
    Watched.CLAIMS: parse_owned,
    Watched.SERVICE_MONITORS: parse_owned,
    Watched.FOREIGN_WORKLOADS: parse_owned,
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _allocation(pod: ObservedPod) -> tuple[str, int, str]:
    return (pod.node_name, pod.allocated_gpus, pod.public_id)


class ClusterStore:
    def __init__(self, *, policy: HealthPolicy, clock: Callable[[], datetime] = utcnow) -> None:
        self.policy = policy
        self.clock = clock
        self._objects: dict[Watched, dict[str, Any]] = {kind: {} for kind in Watched}
        self._allocated: dict[str, int] = defaultdict(int)
        self._bound_by_model: dict[str, dict[str, int]] = {}  # public id -> node -> GPUs
        self._in_cluster = True  # False: no kubeconfig and not in a pod, nothing to watch
        self._pods_by_model: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._workloads_by_model: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._synced: set[Watched] = set()
        self._synced_at: datetime | None = None
        self._feeds: list[ChangeFeed] = []
        self._owned: dict[str, set[tuple[Watched, str]]] = {}
        """Public id -> (kind, key) of each object the model owns besides its Deployment."""
        self._foreign: dict[str, set[str]] = {}
        """Kubernetes kind -> names of objects in the models' namespace that carry no model id."""
        self._assessments: dict[str, Assessment] = {}
        self._pod_reports: dict[str, PodReport] = {}
        """What Kubernetes said about each pod (Warning Events, a crash's log), by pod key."""
        # Only assessments waiting on a timer: `recheck` runs every second and must not
        # walk 10,000 workloads to find the few with a pending pod.
        self._timed: dict[str, datetime] = {}

    # --- reading --------------------------------------------------------------------

    @property
    def objects(self) -> Mapping[Watched, Mapping[str, Any]]:
        return self._objects

    @property
    def nodes(self) -> Mapping[str, ObservedNode]:
        return self._objects[Watched.NODES]

    @property
    def pods(self) -> Mapping[str, ObservedPod]:
        return self._objects[Watched.PODS]

    @property
    def workloads(self) -> Mapping[str, ObservedWorkload]:
        return self._objects[Watched.WORKLOADS]

    @property
    def crds(self) -> Mapping[str, ObservedCrd]:
        return self._objects[Watched.CRDS]

    @property
    def storage_classes(self) -> Mapping[str, ObservedStorageClass]:
        return self._objects[Watched.STORAGE_CLASSES]

    @property
    def allocated(self) -> Mapping[str, int]:
        """GPUs held by the bound, non-terminated pods of each node, by node name."""
        return self._allocated

    @property
    def bound_by_model(self) -> Mapping[str, Mapping[str, int]]:
        """GPUs held by each model's bound pods: public id -> node name -> GPUs."""
        return self._bound_by_model

    @property
    def synced(self) -> Set[Watched]:
        """The kinds whose first list has been taken in (and not forgotten since)."""
        return self._synced

    @property
    def synced_at(self) -> datetime | None:
        """When every required kind was first synced."""
        return self._synced_at

    @property
    def in_cluster(self) -> bool:
        """False when there is no kubeconfig and no pod's service account: nothing to watch."""
        return self._in_cluster

    @property
    def connected(self) -> bool:
        return all(kind in self._synced for kind in REQUIRED_WATCHES)

    # --- feeding --------------------------------------------------------------------

    def subscribe(self, feed: ChangeFeed) -> None:
        """`feed` is told every change from now on (subscribe before the watches run)."""
        self._feeds.append(feed)

    def apply(self, kind: Watched, event_type: str, raw: Raw) -> bool:
        """One watch event; False when it is stale (an older version than the one held)."""
        key = object_key(raw)
        held = self._objects[kind].get(key)
        if event_type == "DELETED":
            if held is None:
                return False
            new_rv, held_rv = as_int(resource_version_of(raw)), as_int(held.resource_version)
            if new_rv is not None and held_rv is not None and new_rv < held_rv:
                return False
            self._remove(kind, key)
            return True
        observed = PARSERS[kind](raw)
        if held is not None and is_stale(observed.resource_version, held.resource_version):
            return False
        self._set(kind, observed)
        return True

    def replace(self, kind: Watched, raws: Iterable[Raw]) -> None:
        """A fresh list: it is the truth, so what it lacks vanished (reconcile)."""
        fresh = {observed.key: observed for observed in map(PARSERS[kind], raws)}
        for key in [k for k in self._objects[kind] if k not in fresh]:
            self._remove(kind, key)
        for key, observed in fresh.items():
            held = self._objects[kind].get(key)
            if (
                held is None
                or held.resource_version != observed.resource_version
                or held != observed
            ):
                self._set(kind, observed)
        if kind in PROJECTED_WATCHES:
            for feed in self._feeds:
                feed.relisted(kind)
        self.mark_synced(kind)

    def mark_synced(self, kind: Watched) -> None:
        was_connected = self.connected
        self._synced.add(kind)
        if self.connected and not was_connected:
            self._synced_at = self.clock()
            self._cluster_changed()  # `connected` and `synced_at` are in the status

    def set_no_cluster(self) -> None:
        """Nothing to watch: queries answer that there is no cluster, not that it is syncing."""
        self._in_cluster = False
        self._cluster_changed()

    def forget(self, kind: Watched) -> None:
        """A kind stops being watched (its CRD was removed): drop what it held."""
        for key in list(self._objects[kind]):
            self._remove(kind, key)
        self._synced.discard(kind)
        if kind in PROJECTED_WATCHES:
            for feed in self._feeds:
                feed.relisted(kind)
        self._cluster_changed()  # `connected` may have changed

    def _set(self, kind: Watched, observed: Any) -> None:
        old = self._objects[kind].get(observed.key)
        self._objects[kind][observed.key] = observed
        self._after_change(kind, old, observed)

    def _remove(self, kind: Watched, key: str) -> None:
        old = self._objects[kind].pop(key)
        self._after_change(kind, old, None)

    def _after_change(self, kind: Watched, old: Any, new: Any) -> None:
        if kind in PROJECTED_WATCHES:
            self._projected_changed(kind, (new or old).key)
        if kind in OWNED_KINDS:
            self._owned_changed(kind, old, new)
        if kind is Watched.NODES:
            self._node_changed((new or old).key)
        elif kind is Watched.PODS:
            self._pod_changed(old, new)
        elif kind is Watched.WORKLOADS:
            self._workload_changed(old, new)
        elif kind in (Watched.CRDS, Watched.STORAGE_CLASSES):
            self._cluster_changed()

    def _owned_changed(self, kind: Watched, old: Any, new: Any) -> None:
        same = (
            old is not None
            and new is not None
            and (old.public_id, old.generation) == (new.public_id, new.generation)
        )
        if same:
            return
        foreign_before = set(self._foreign.get(OWNED_KINDS[kind][1], ()))
        for observed, sign in ((old, -1), (new, 1)):
            if observed is None:
                continue
            if observed.public_id:
                members = self._owned.setdefault(observed.public_id, set())
                if sign > 0:
                    members.add((kind, observed.key))
                else:
                    members.discard((kind, observed.key))
                    if not members:
                        del self._owned[observed.public_id]
                for feed in self._feeds:
                    feed.owned_touched(observed.public_id)
            elif observed.namespace == DEFAULT_NAMESPACE:
                names = self._foreign.setdefault(OWNED_KINDS[kind][1], set())
                if sign > 0:
                    names.add(observed.name)
                else:
                    names.discard(observed.name)
        if self._foreign.get(OWNED_KINDS[kind][1], set()) != foreign_before:
            self._cluster_changed()

    def owned_refs(self, public_id: str) -> list[OwnedRef]:
        """What the model owns besides its Deployment, as the watches show it now."""
        refs = []
        for kind, key in self._owned.get(public_id, ()):
            observed = self._objects[kind][key]
            api_version, kind_name = OWNED_KINDS[kind]
            refs.append(OwnedRef(kind_name, observed.name, api_version, observed.generation or 0))
        return refs

    @property
    def owned_kinds_known(self) -> frozenset[str]:
        """The owned kinds whose watches have synced: only those can show an object missing."""
        return frozenset(name for kind, (_, name) in OWNED_KINDS.items() if kind in self._synced)

    def foreign_objects(self) -> dict[str, list[str]]:
        return {kind: sorted(names) for kind, names in sorted(self._foreign.items()) if names}

    def _node_changed(self, name: str) -> None:
        for feed in self._feeds:
            feed.node_touched(name)

    def _cluster_changed(self) -> None:
        for feed in self._feeds:
            feed.cluster_touched()

    def _pod_changed(self, old: ObservedPod | None, new: ObservedPod | None) -> None:
        # A pod going Running keeps its node and GPUs: the status (and its version) stays.
        held = old is not None and new is not None and _allocation(old) == _allocation(new)
        for pod, sign in ((old, -1), (new, 1)):
            if pod is None:
                continue
            if pod.allocated_gpus and not held:
                self._allocated[pod.node_name] += sign * pod.allocated_gpus
                if pod.public_id:
                    self._count_bound(pod, sign)
                if pod.node_name in self.nodes:  # its projection holds the GPUs allocated
                    self._projected_changed(Watched.NODES, pod.node_name)
                self._node_changed(pod.node_name)
            if pod.model_key is not None:
                members = self._pods_by_model[pod.model_key]
                if sign > 0:
                    members.add(pod.key)
                else:
                    members.discard(pod.key)
                    if new is None:
                        self._pod_reports.pop(pod.key, None)
                    if not members:
                        del self._pods_by_model[pod.model_key]
                for workload_key in self._workloads_by_model.get(pod.model_key, ()):
                    self._workload_invalidated(workload_key)

    def _count_bound(self, pod: ObservedPod, sign: int) -> None:
        nodes = self._bound_by_model.setdefault(pod.public_id, {})
        nodes[pod.node_name] = nodes.get(pod.node_name, 0) + sign * pod.allocated_gpus
        if nodes[pod.node_name] <= 0:
            del nodes[pod.node_name]
        if not nodes:
            del self._bound_by_model[pod.public_id]

    def _workload_changed(self, old: ObservedWorkload | None, new: ObservedWorkload | None) -> None:
        key = (new or old).key  # type: ignore[union-attr]
        if old is not None and (new is None or old.model_key != new.model_key):
            members = self._workloads_by_model[old.model_key]
            members.discard(key)
            if not members:
                del self._workloads_by_model[old.model_key]
        if new is not None:
            self._workloads_by_model[new.model_key].add(key)
            if old is None:
                for feed in self._feeds:
                    feed.workload_appeared(key)
        elif old is not None:
            for feed in self._feeds:
                feed.workload_vanished(key, old)
        self._workload_invalidated(key)

    def _workload_invalidated(self, key: str) -> None:
        self._assessments.pop(key, None)
        self._timed.pop(key, None)
        self._projected_changed(Watched.WORKLOADS, key)
        for feed in self._feeds:
            feed.workload_touched(key)

    def _projected_changed(self, kind: Watched, key: str) -> None:
        for feed in self._feeds:
            feed.object_changed(kind, key)

    def note_warning(self, warning: PodWarning) -> None:
        """A Warning Event about a pod: re-judge its model with it."""
        report = self._pod_reports.get(warning.pod_key, PodReport())
        self._report(warning.pod_key, report.warned(warning.reason, warning.message))

    def note_crash_log(self, pod_key: str, text: str) -> None:
        """The last lines a pod's crashed container printed."""
        report = self._pod_reports.get(pod_key, PodReport())
        self._report(pod_key, replace(report, crash_log=log_tail(text)))

    def _report(self, pod_key: str, report: PodReport) -> None:
        pod = self.pods.get(pod_key)
        if pod is None or pod.model_key is None:
            return  # not a model's pod (or not seen yet): nothing to explain
        if self._pod_reports.get(pod_key) == report:
            return
        self._pod_reports[pod_key] = report
        for workload_key in self._workloads_by_model.get(pod.model_key, ()):
            self._workload_invalidated(workload_key)

    def recheck(self, now: datetime) -> None:
        """Re-judge workloads whose pending pods may have crossed a timeout by `now`."""
        for key, next_check in list(self._timed.items()):
            if next_check <= now:
                self._workload_invalidated(key)

    # --- derived facts --------------------------------------------------------------

    def pods_of(self, workload: ObservedWorkload) -> list[ObservedPod]:
        pods = self._objects[Watched.PODS]
        return [pods[k] for k in self._pods_by_model.get(workload.model_key, ())]

    def assessment(self, key: str) -> Assessment:
        cached = self._assessments.get(key)
        if cached is None:
            workload = self.workloads[key]
            cached = assess(
                workload,
                self.pods_of(workload),
                now=self.clock(),
                policy=self.policy,
                reports=self._pod_reports,
            )
            self._assessments[key] = cached
            if cached.next_check is not None:
                self._timed[key] = cached.next_check
        return cached

    def gpu_nodes(self) -> list[tuple[ObservedNode, int]]:
        return [(n, self._allocated.get(n.name, 0)) for n in self.nodes.values() if n.gpu_count]
