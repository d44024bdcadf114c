"""Server-side defaulting, applied on every write as the apiserver's defaulters do.

Only defaults that clients observe are set (replicas, strategy, pod-spec policies,
Service cluster IPs and ports, Namespace phase, Secret `stringData`, the groups of an RBAC
binding's role and subjects, an APIService's port, an HPA's CPU metric). Each function edits
a private copy in place and is idempotent.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

Obj = dict[str, Any]

_cluster_ips = itertools.count(10)


def _pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        tag = image.rsplit("/", 1)[-1]
        latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxSurge", "25%")
        rolling.setdefault("maxUnavailable", "25%")
    _template(spec)


def _template(spec: Obj) -> None:
    template = spec.setdefault("template", {})
    meta = template.setdefault("metadata", {})
    if isinstance(meta, dict) and meta.get("creationTimestamp", "") is None:
        # Go clients send `creationTimestamp: null` (kubectl rollout undo does); a typed
        # server decodes it to nothing, so the template still matches its ReplicaSet's
        del meta["creationTimestamp"]
    _pod_spec(template.setdefault("spec", {}))


#: what the DefaultTolerationSeconds admission plugin gives every pod
_DEFAULT_TOLERATIONS = tuple(
    {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
)


def _replica_set(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _template(obj["spec"])


def _pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    _pod_spec(spec)
    tolerations = spec.get("tolerations")
    if tolerations is None or isinstance(tolerations, list):
        have = tolerations or []
        missing = [
            dict(d)
            for d in _DEFAULT_TOLERATIONS
            if not any(
                isinstance(t, dict)
                and t.get("key") in (d["key"], "", None)
                and t.get("effect") in ("NoExecute", "", None)
                for t in have
            )
        ]
        if missing:
            spec["tolerations"] = [*have, *missing]
    obj.setdefault("status", {"phase": "Pending"})


def _service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("clusterIP") != "None" and spec["type"] != "ExternalName":
        n = next(_cluster_ips)
        spec.setdefault("clusterIP", f"10.96.{(n // 250) % 250}.{n % 250 + 1}")
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {"loadBalancer": {}})


def _namespace(obj: Obj) -> None:
    meta = obj["metadata"]
    meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _pvc(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {"phase": "Pending"})


def _job_spec(spec: Obj) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    _template(spec)


def _job(obj: Obj) -> None:
    _job_spec(obj.setdefault("spec", {}))


def job_identity(obj: Obj) -> None:
    """What the Job strategy adds once the uid is known: the generated selector and the
    labels on the template that it selects (unless `manualSelector`)."""
    spec = obj.setdefault("spec", {})
    if spec.get("manualSelector"):
        return
    meta = obj["metadata"]
    uid, name = meta["uid"], meta["name"]
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
    labels.update(
        {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
    )


def _cron_job(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    template = spec.setdefault("jobTemplate", {})
    template.setdefault("metadata", {})
    _job_spec(template.setdefault("spec", {}))


def _daemon_set(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    _template(spec)


def _stateful_set(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault(
        "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
    )
    _template(spec)


def _replication_controller(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _template(spec)
    labels = (spec["template"].get("metadata") or {}).get("labels") or {}
    if not spec.get("selector") and labels:
        spec["selector"] = dict(labels)
    if not obj["metadata"].get("labels") and labels:
        obj["metadata"]["labels"] = dict(labels)


def _horizontal_pod_autoscaler(obj: Obj) -> None:
    """autoscaling/v2: one replica at least, and with no metrics, 80% average CPU."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]


RBAC_GROUP = "rbac.authorization.k8s.io"


def _role_binding(obj: Obj) -> None:
    """A binding's roleRef is in the RBAC group unless it says otherwise, as are its User
    and Group subjects; a ServiceAccount subject is in the core group ("")."""
    role_ref = obj.setdefault("roleRef", {})  # a struct, not a pointer: always there
    if isinstance(role_ref, dict) and not role_ref.get("apiGroup"):
        role_ref["apiGroup"] = RBAC_GROUP
    for subject in obj.get("subjects") or ():
        if isinstance(subject, dict) and not subject.get("apiGroup"):
            if subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = RBAC_GROUP
            elif subject.get("kind") == "ServiceAccount":
                subject["apiGroup"] = ""


def _api_service(obj: Obj) -> None:
    """An APIService's service is reached on port 443 unless it names another."""
    service = (obj.get("spec") or {}).get("service")
    if isinstance(service, dict):
        service.setdefault("port", 443)


DEFAULTERS = {
    "apps/deployments": _deployment,
    "apps/replicasets": _replica_set,
    "/pods": _pod,
    "/services": _service,
    "/namespaces": _namespace,
    "/secrets": _secret,
    "/persistentvolumeclaims": _pvc,
    "batch/jobs": _job,
    "batch/cronjobs": _cron_job,
    "apps/daemonsets": _daemon_set,
    "apps/statefulsets": _stateful_set,
    "/replicationcontrollers": _replication_controller,
    "autoscaling/horizontalpodautoscalers": _horizontal_pod_autoscaler,
    f"{RBAC_GROUP}/rolebindings": _role_binding,
    f"{RBAC_GROUP}/clusterrolebindings": _role_binding,
    "apiregistration.k8s.io/apiservices": _api_service,
}
#: defaults that need the object's uid (set after validation, as the strategies do)
IDENTITY_DEFAULTERS = {"batch/jobs": job_identity}


def apply_defaults(storage_key: str, obj: Obj) -> None:
    defaulter = DEFAULTERS.get(storage_key)
    if defaulter is not None:
        defaulter(obj)
