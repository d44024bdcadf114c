"""DaemonSet and StatefulSet controllers.

DaemonSet: one pod per node that should run it (its nodeSelector and required node
affinity match, its taints are tolerated), each pinned by a required node affinity on
`metadata.name` and carrying the tolerations the controller adds (not-ready, unreachable,
the pressure taints, unschedulable: a cordoned node keeps its daemons); pods on nodes
that should not run one are removed. A template change replaces pods `maxUnavailable`
(1) at a time under RollingUpdate, none under OnDelete. Status: desired, current, ready,
available, updated and misscheduled counts.

StatefulSet: pods `<set>-0` .. `<set>-<replicas-1>` with stable names, hostname and
subdomain (`serviceName`), and a PVC per `volumeClaimTemplates` entry
(`<claim>-<set>-<ordinal>`, kept when the pod goes, as `Retain` says). Under
`OrderedReady` a pod is created only when every lower ordinal is Running and Ready, and
scale-down removes the highest ordinal first, one at a time; `Parallel` does all at once.
A template change replaces pods from the highest ordinal down to `partition`, each once
the others are ready. Status: replicas, ready, current, updated and available counts and
the two revisions.

Both label their pods with `controller-revision-hash` (the template's hash), as the
real controllers do through ControllerRevisions.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import orjson

from kubesim.controllers.common import (
    DAEMON_SETS,
    NODES,
    PODS,
    PVCS,
    STATEFUL_SETS,
    OwnerController,
    evolve,
    note,
    pod_from_template,
    random_suffix,
)
from kubesim.controllers.placement import matches_node_selector, untolerated_taint
from kubesim.controllers.replicasets import is_active, is_pod_ready
from kubesim.errors import ApiError
from kubesim.storage import Event
from kubesim.store import ObjectStore

Obj = dict[str, Any]
REVISION = "controller-revision-hash"
DS_COMPONENT = "daemonset-controller"
STS_COMPONENT = "statefulset-controller"
#: the tolerations the DaemonSet controller adds to its pods
DAEMON_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)


def template_hash(owner: Obj) -> str:
    """A short stable hash of the pod template (what names a ControllerRevision)."""
    template = (owner.get("spec") or {}).get("template") or {}
    digest = hashlib.sha256(orjson.dumps(template, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return digest[:10]


def _revision(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get(REVISION, ""))


class _SetController(OwnerController):
    """What both set controllers share: Events worded as each controller words them."""

    component = ""

    def _create(self, owner: Obj, pod: Obj) -> Obj | None:
        try:
            created = self.store.create(pod, rt=PODS)
        except ApiError:
            return None  # a name still held by a terminating pod: retried on its deletion
        message = f"create Pod {created['metadata']['name']} in {self.owner.kind} {owner['metadata']['name']} successful"
        if self.owner.kind == "DaemonSet":
            message = f"Created pod: {created['metadata']['name']}"
        note(self.store, owner, "SuccessfulCreate", message, component=self.component)
        return created

    def _delete(self, owner: Obj, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        with contextlib.suppress(ApiError):
            self.store.delete(PODS, pod["metadata"]["namespace"], name)
            message = (
                f"delete Pod {name} in {self.owner.kind} {owner['metadata']['name']} successful"
            )
            if self.owner.kind == "DaemonSet":
                message = f"Deleted pod: {name}"
            note(self.store, owner, "SuccessfulDelete", message, component=self.component)

    def _commit_status(self, owner: Obj, status: Obj) -> None:
        status["observedGeneration"] = owner["metadata"].get("generation", 1)
        if status != owner.get("status"):
            self.store.commit(self.owner, evolve(owner, status=status))


class DaemonSetController(_SetController):
    owner = DAEMON_SETS
    component = DS_COMPONENT

    def __init__(self, store: ObjectStore) -> None:
        super().__init__(store)
        self.observes = frozenset({*(self.observes or ()), NODES.storage_key})

    def observe(self, event: Event) -> bool:
        if event.key == NODES.storage_key:  # a node may now run a daemon, or no more
            for ds in self.store.storage.iter(DAEMON_SETS.storage_key):
                self.dirty.add((ds["metadata"]["namespace"], ds["metadata"]["name"]))
            return bool(self.dirty)
        return super().observe(event)

    def _should_run(self, ds: Obj, node: Obj) -> bool:
        template = (ds.get("spec") or {}).get("template") or {}
        tolerations = [
            *((template.get("spec") or {}).get("tolerations") or []),
            *DAEMON_TOLERATIONS,
        ]
        if untolerated_taint(node, tolerations, ("NoSchedule", "NoExecute")) is not None:
            return False
        return matches_node_selector(template, node)

    def reconcile(self, ds: Obj) -> None:
        revision = template_hash(ds)
        nodes = {n["metadata"]["name"]: n for n in self.store.storage.iter(NODES.storage_key)}
        by_node: dict[str, list[Obj]] = {}
        for pod in self.dependents(ds):
            if is_active(pod):
                by_node.setdefault(self._node_of(pod), []).append(pod)
        wanted = {name for name, node in nodes.items() if self._should_run(ds, node)}
        misscheduled = 0
        for name, pods in list(by_node.items()):
            if name not in wanted:
                misscheduled += sum(1 for p in pods if p["spec"].get("nodeName"))
                for pod in pods:
                    self._delete(ds, pod)
                del by_node[name]
            elif len(pods) > 1:
                pods.sort(key=lambda p: (_revision(p) != revision, not is_pod_ready(p)))
                for pod in pods[1:]:
                    self._delete(ds, pod)
                by_node[name] = pods[:1]
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            budget = int((strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1) or 1)
            unavailable = sum(
                1 for name in wanted if not by_node.get(name) or not is_pod_ready(by_node[name][0])
            )
            for name, pods in sorted(by_node.items()):
                if budget - unavailable <= 0:
                    break
                if _revision(pods[0]) != revision:
                    self._delete(ds, pods[0])
                    del by_node[name]
                    unavailable += 1
        for name in sorted(wanted - by_node.keys()):
            created = self._create(ds, self._pod_for(ds, name, revision))
            if created is not None:
                by_node[name] = [created]
        current = [pods[0] for name, pods in by_node.items() if name in wanted]
        ready = sum(1 for p in current if is_pod_ready(p))
        status: Obj = {
            "currentNumberScheduled": len(current),
            "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": len(wanted),
            "numberReady": ready,
            "updatedNumberScheduled": sum(1 for p in current if _revision(p) == revision),
            "numberAvailable": ready,
        }
        if len(wanted) - ready:
            status["numberUnavailable"] = len(wanted) - ready
        self._commit_status(ds, status)

    @staticmethod
    def _node_of(pod: Obj) -> str:
        """The node a daemon pod is pinned to (bound or not yet)."""
        if pod["spec"].get("nodeName"):
            return str(pod["spec"]["nodeName"])
        affinity = ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        ) or {}
        for term in affinity.get("nodeSelectorTerms") or []:
            for field in term.get("matchFields") or []:
                if field.get("key") == "metadata.name" and field.get("values"):
                    return str(field["values"][0])
        return ""

    def _pod_for(self, ds: Obj, node: str, revision: str) -> Obj:
        template = (ds.get("spec") or {}).get("template") or {}
        spec = template.get("spec") or {}
        affinity = dict(spec.get("affinity") or {})
        affinity["nodeAffinity"] = {
            **(affinity.get("nodeAffinity") or {}),
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                ]
            },
        }
        have = list(spec.get("tolerations") or [])
        tolerations = have + [
            dict(t) for t in DAEMON_TOLERATIONS if not any(h.get("key") == t["key"] for h in have)
        ]
        return pod_from_template(
            ds,
            template,
            name=f"{ds['metadata']['name']}-{random_suffix()}",
            labels={
                REVISION: revision,
                "pod-template-generation": str(ds["metadata"].get("generation", 1)),
            },
            spec={"affinity": affinity, "tolerations": tolerations},
        )


class StatefulSetController(_SetController):
    owner = STATEFUL_SETS
    component = STS_COMPONENT

    def reconcile(self, sts: Obj) -> None:
        spec = sts.get("spec") or {}
        name = sts["metadata"]["name"]
        replicas = int(spec.get("replicas", 1))
        revision = f"{name}-{template_hash(sts)}"  # what names its ControllerRevision
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        pods: dict[int, Obj] = {}
        for pod in self.dependents(sts):
            ordinal = self._ordinal(name, pod)
            if ordinal is not None:
                pods[ordinal] = pod
        # replace failed pods, as the controller does
        for pod in list(pods.values()):
            if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded") and not pod[
                "metadata"
            ].get("deletionTimestamp"):
                self._delete(sts, pod)
        terminating = any(p["metadata"].get("deletionTimestamp") for p in pods.values())
        for ordinal in range(replicas):
            if ordinal in pods:
                if ordered and not self._healthy(pods[ordinal]):
                    break
                continue
            if ordered and terminating:
                break
            created = self._create(sts, self._pod_for(sts, ordinal, revision))
            if created is not None:
                pods[ordinal] = created
            if ordered:
                break
        extra = sorted((o for o in pods if o >= replicas), reverse=True)
        for ordinal in extra:
            pod = pods[ordinal]
            if not pod["metadata"].get("deletionTimestamp"):
                self._delete(sts, pod)
            if ordered:
                break
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate" and not terminating:
            partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))
            outdated = [
                o
                for o in sorted(pods, reverse=True)
                if partition <= o < replicas and _revision(pods[o]) != revision
            ]
            all_ready = all(self._healthy(pods.get(o)) for o in range(replicas))
            if outdated and all_ready:
                self._delete(sts, pods[outdated[0]])
        live = [p for o, p in pods.items() if o < replicas]
        ready = sum(1 for p in live if is_pod_ready(p))
        updated = sum(1 for p in live if _revision(p) == revision)
        current = (sts.get("status") or {}).get("currentRevision") or revision
        if updated == len(live) == replicas:
            current = revision
        status: Obj = {
            "replicas": len(live),
            "readyReplicas": ready,
            "currentReplicas": sum(1 for p in live if _revision(p) == current),
            "updatedReplicas": updated,
            "currentRevision": current,
            "updateRevision": revision,
            "collisionCount": 0,
            "availableReplicas": ready,
        }
        for field in ("readyReplicas", "currentReplicas", "updatedReplicas"):
            if not status[field]:
                del status[field]
        self._commit_status(sts, status)

    @staticmethod
    def _healthy(pod: Obj | None) -> bool:
        return (
            pod is not None
            and not pod["metadata"].get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase") == "Running"
            and is_pod_ready(pod)
        )

    @staticmethod
    def _ordinal(name: str, pod: Obj) -> int | None:
        prefix, _, index = pod["metadata"]["name"].rpartition("-")
        return int(index) if prefix == name and index.isdigit() else None

    def _claims(self, sts: Obj, ordinal: int) -> list[Obj]:
        """The PVCs of one ordinal, created when missing; volumes for the pod."""
        name, ns = sts["metadata"]["name"], sts["metadata"]["namespace"]
        volumes = []
        for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            tmeta = template.get("metadata") or {}
            claim = f"{tmeta.get('name', '')}-{name}-{ordinal}"
            if self.store.find(PVCS, ns, claim) is None:
                labels = dict(
                    ((sts["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
                )
                pvc = {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {
                        "name": claim,
                        "namespace": ns,
                        "labels": {**labels, **(tmeta.get("labels") or {})},
                    },
                    "spec": template.get("spec") or {},
                }
                with contextlib.suppress(ApiError):
                    self.store.create(pvc, rt=PVCS)
                    message = (
                        f"create Claim {claim} Pod {name}-{ordinal} in StatefulSet {name} success"
                    )
                    note(self.store, sts, "SuccessfulCreate", message, component=STS_COMPONENT)
            volumes.append(
                {"name": tmeta.get("name", ""), "persistentVolumeClaim": {"claimName": claim}}
            )
        return volumes

    def _pod_for(self, sts: Obj, ordinal: int, revision: str) -> Obj:
        spec = sts.get("spec") or {}
        name = sts["metadata"]["name"]
        template = spec.get("template") or {}
        pod_spec = template.get("spec") or {}
        claims = self._claims(sts, ordinal)
        volumes = [
            v
            for v in pod_spec.get("volumes") or []
            if v.get("name") not in {c["name"] for c in claims}
        ] + claims
        extra: Obj = {"hostname": f"{name}-{ordinal}"}
        if spec.get("serviceName"):
            extra["subdomain"] = spec["serviceName"]
        if volumes:
            extra["volumes"] = volumes
        return pod_from_template(
            sts,
            template,
            name=f"{name}-{ordinal}",
            labels={
                REVISION: revision,
                "statefulset.kubernetes.io/pod-name": f"{name}-{ordinal}",
                "apps.kubernetes.io/pod-index": str(ordinal),
            },
            spec=extra,
        )
