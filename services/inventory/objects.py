"""What the inventory keeps of each watched Kubernetes object, parsed from its raw JSON.

Only the fields that matter are kept (a Pod's GPU requests, waiting reasons and restart
counts, not its spec), which is what keeps 5,000 nodes and 10,000 Deployments small in
memory. Parsers are total: a malformed field becomes a neutral value, never an exception
that would stop a watch.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

from services.inventory.schedulability import Reason, unschedulable_reason
from shared import labels
from shared.quantity import InvalidQuantityError, parse_quantity

Raw = dict[str, Any]
Phase = Literal["Running", "Pending", "Failed", "Unknown"]

TERMINATED_POD_PHASES: Final = frozenset({"Succeeded", "Failed"})
DEFAULT_CLASS_ANNOTATIONS: Final = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


@dataclass(frozen=True, slots=True)
class Problem:
    reason: str
    message: str = ""


def _metadata(raw: Raw) -> Raw:
    meta = raw.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _section(raw: Raw, name: str) -> Raw:
    value = raw.get(name)
    return value if isinstance(value, dict) else {}


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return default


def _opt_int(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def _quantity(value: object) -> Decimal:
    try:
        return parse_quantity(str(value)) if value is not None else Decimal(0)
    except InvalidQuantityError:
        return Decimal(0)


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def object_key(raw: Raw) -> str:
    meta = _metadata(raw)
    namespace = meta.get("namespace")
    name = str(meta.get("name", ""))
    return f"{namespace}/{name}" if namespace else name


def resource_version_of(raw: Raw) -> str:
    return str(_metadata(raw).get("resourceVersion", ""))


def last_write_time(raw: Raw) -> datetime | None:
    """When the API server last wrote the object, as its managedFields record (whole
    seconds); None when it keeps no managedFields."""
    entries = _metadata(raw).get("managedFields")
    times = [
        written
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict) and (written := _time(entry.get("time"))) is not None
    ]
    return max(times, default=None)


@dataclass(frozen=True, slots=True)
class ObservedNode:
    name: str
    resource_version: str
    gpu_count: int
    gpu_product: str
    gpu_memory_mib: int
    gpu_allocatable: int = 0
    unschedulable_reason: Reason | None = None
    """Why a model's pod cannot land here: not Ready, cordoned, or a NoSchedule/NoExecute
    taint other than the GPU taint the Deployment tolerates (`schedulability`)."""

    @property
    def key(self) -> str:
        return self.name

    @property
    def schedulable(self) -> bool:
        return self.unschedulable_reason is None


def _gpus(resources: object) -> int:
    return (
        max(0, int(_quantity(resources.get(labels.GPU_RESOURCE))))
        if isinstance(resources, dict)
        else 0
    )


def parse_node(raw: Raw) -> ObservedNode:
    meta = _metadata(raw)
    node_labels = _str_map(meta.get("labels"))
    status = _section(raw, "status")
    gpus = _gpus(status.get("capacity"))
    allocatable = status.get("allocatable")
    return ObservedNode(
        name=str(meta.get("name", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        gpu_count=gpus,
        gpu_product=node_labels.get(labels.GPU_PRODUCT_LABEL, ""),
        gpu_memory_mib=_int(node_labels.get(labels.GPU_MEMORY_LABEL)),
        gpu_allocatable=_gpus(allocatable) if isinstance(allocatable, dict) else gpus,
        unschedulable_reason=unschedulable_reason(raw),
    )


@dataclass(frozen=True, slots=True)
class ObservedPod:
    namespace: str
    name: str
    resource_version: str
    node_name: str
    phase: str
    gpu_request: int
    model_name: str
    public_id: str
    waiting: tuple[Problem, ...]
    restart_count: int
    unschedulable_since: datetime | None
    unschedulable_message: str
    owner: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def terminated(self) -> bool:
        return self.phase in TERMINATED_POD_PHASES

    @property
    def allocated_gpus(self) -> int:
        """GPUs this pod holds on its node: bound and not terminated."""
        return self.gpu_request if self.node_name and not self.terminated else 0

    @property
    def model_key(self) -> tuple[str, str] | None:
        return (self.namespace, self.model_name) if self.model_name else None


def _container_gpus(container: object) -> Decimal:
    if not isinstance(container, dict):
        return Decimal(0)
    resources = container.get("resources")
    if not isinstance(resources, dict):
        return Decimal(0)
    for part in ("requests", "limits"):  # an extended resource's request defaults to its limit
        values = resources.get(part)
        if isinstance(values, dict) and labels.GPU_RESOURCE in values:
            return _quantity(values[labels.GPU_RESOURCE])
    return Decimal(0)


def pod_gpu_request(spec: Raw) -> int:
    """The scheduler's rule: max(sum of containers, largest init container)."""
    containers = spec.get("containers") if isinstance(spec.get("containers"), list) else []
    inits = spec.get("initContainers") if isinstance(spec.get("initContainers"), list) else []
    total = sum((_container_gpus(c) for c in containers or []), Decimal(0))
    largest_init = max((_container_gpus(c) for c in inits or []), default=Decimal(0))
    return max(0, int(max(total, largest_init)))


def parse_pod(raw: Raw) -> ObservedPod:
    meta = _metadata(raw)
    pod_labels = _str_map(meta.get("labels"))
    spec, status = _section(raw, "spec"), _section(raw, "status")
    waiting: list[Problem] = []
    restarts = 0
    statuses = status.get("containerStatuses")
    for container in statuses if isinstance(statuses, list) else []:
        if not isinstance(container, dict):
            continue
        restarts = max(restarts, _int(container.get("restartCount")))
        state = container.get("state")
        waiting_state = state.get("waiting") if isinstance(state, dict) else None
        if isinstance(waiting_state, dict) and waiting_state.get("reason"):
            waiting.append(
                Problem(str(waiting_state["reason"]), str(waiting_state.get("message", "")))
            )
    since, message = None, ""
    conditions = status.get("conditions")
    for condition in conditions if isinstance(conditions, list) else []:
        if (
            isinstance(condition, dict)
            and condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            since = _time(condition.get("lastTransitionTime"))
            message = str(condition.get("message", ""))
    owners = meta.get("ownerReferences")
    owner = ""
    if isinstance(owners, list) and owners and isinstance(owners[0], dict):
        owner = f"{owners[0].get('kind', '')}/{owners[0].get('name', '')}"
    return ObservedPod(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        node_name=str(spec.get("nodeName") or ""),
        phase=str(status.get("phase") or "Pending"),
        gpu_request=pod_gpu_request(spec),
        model_name=pod_labels.get(labels.MODEL_NAME, ""),
        public_id=pod_labels.get(labels.MODEL_ID, ""),
        waiting=tuple(waiting),
        restart_count=restarts,
        unschedulable_since=since,
        unschedulable_message=message,
        owner=owner,
    )


@dataclass(frozen=True, slots=True)
class ObservedWorkload:
    """A Deployment carrying `model.aibrix.ai/name`, managed by jan-models or not."""

    namespace: str
    name: str
    resource_version: str
    model_name: str
    managed: bool
    organization_id: int | None
    public_id: str | None
    model_db_id: int | None
    generation: int | None
    replicas: int
    ready_replicas: int
    observed: bool
    created_at: datetime | None
    condition_failure: Problem | None
    updated_replicas: int = 0
    """Replicas of the current pod template (`status.updatedReplicas`)."""
    rolled_out: bool = True
    """The controller has seen the current spec and every pod runs its template: no pod of
    an older one is left. Until then `ready_replicas` may count the last generation's pods."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def model_key(self) -> tuple[str, str]:
        return (self.namespace, self.model_name)


def _deployment_failure(status: Raw) -> Problem | None:
    conditions = status.get("conditions")
    for condition in conditions if isinstance(conditions, list) else []:
        if not isinstance(condition, dict):
            continue
        kind, state = condition.get("type"), condition.get("status")
        if (kind == "ReplicaFailure" and state == "True") or (
            kind == "Progressing"
            and state == "False"
            and condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            return Problem(str(condition.get("reason", kind)), str(condition.get("message", "")))
    return None


def _rolled_out(meta: Raw, spec: Raw, status: Raw) -> bool:
    """As `kubectl rollout status` decides: observedGeneration caught up, every desired
    replica updated, and no replica of an older template left."""
    if not status:
        return False
    desired = _int(spec.get("replicas"), 1) if "replicas" in spec else 1
    updated = _int(status.get("updatedReplicas"))
    return (
        _int(status.get("observedGeneration")) >= _int(meta.get("generation"))
        and updated >= desired
        and _int(status.get("replicas")) <= updated
    )


def parse_workload(raw: Raw) -> ObservedWorkload:
    meta = _metadata(raw)
    workload_labels = _str_map(meta.get("labels"))
    annotations = _str_map(meta.get("annotations"))
    spec, status = _section(raw, "spec"), _section(raw, "status")
    return ObservedWorkload(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        model_name=workload_labels.get(labels.MODEL_NAME, ""),
        managed=workload_labels.get(labels.MANAGED) == "true",
        organization_id=_opt_int(workload_labels.get(labels.ORGANIZATION_ID)),
        public_id=workload_labels.get(labels.MODEL_ID) or None,
        model_db_id=_opt_int(annotations.get(labels.MODEL_DB_ID_ANNOTATION)),
        generation=_opt_int(annotations.get(labels.GENERATION_ANNOTATION)),
        replicas=_int(spec.get("replicas"), 1) if "replicas" in spec else 1,
        ready_replicas=_int(status.get("readyReplicas")) if status else 0,
        observed=bool(status),
        created_at=_time(meta.get("creationTimestamp")),
        condition_failure=_deployment_failure(status) if status else None,
        updated_replicas=_int(status.get("updatedReplicas")) if status else 0,
        rolled_out=_rolled_out(meta, spec, status),
    )


@dataclass(frozen=True, slots=True)
class ObservedCrd:
    name: str
    resource_version: str

    @property
    def key(self) -> str:
        return self.name


def parse_crd(raw: Raw) -> ObservedCrd:
    return ObservedCrd(name=object_key(raw), resource_version=resource_version_of(raw))


@dataclass(frozen=True, slots=True)
class ObservedStorageClass:
    name: str
    resource_version: str
    provisioner: str
    is_default: bool

    @property
    def key(self) -> str:
        return self.name


def parse_storage_class(raw: Raw) -> ObservedStorageClass:
    annotations = _str_map(_metadata(raw).get("annotations"))
    return ObservedStorageClass(
        name=object_key(raw),
        resource_version=resource_version_of(raw),
        provisioner=str(raw.get("provisioner", "")),
        is_default=any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS),
    )


@dataclass(frozen=True, slots=True)
class ObservedAutoscaler:
    namespace: str
    name: str
    resource_version: str
    target: str
    min_replicas: int | None
    max_replicas: int
    public_id: str | None
    generation: int | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_autoscaler(raw: Raw) -> ObservedAutoscaler:
    meta = _metadata(raw)
    spec = _section(raw, "spec")
    target = spec.get("scaleTargetRef")
    minimum = spec.get("minReplicas")
    return ObservedAutoscaler(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        target=str(target.get("name", "")) if isinstance(target, dict) else "",
        min_replicas=minimum if isinstance(minimum, int) else None,
        max_replicas=_int(spec.get("maxReplicas")),
        public_id=_str_map(meta.get("labels")).get(labels.MODEL_ID) or None,
        generation=_generation(meta),
    )


def _generation(meta: Raw) -> int | None:
    return _opt_int(_str_map(meta.get("annotations")).get(labels.GENERATION_ANNOTATION))


@dataclass(frozen=True, slots=True)
class ObservedOwned:
    """An object of a kind a model owns (Service, Secret, PVC, ServiceMonitor, or a
    Deployment that is not a model's), as its metadata tells: whose it is and of which
    generation. Nothing else is kept; a Secret is only ever read as metadata."""

    namespace: str
    name: str
    resource_version: str
    public_id: str | None
    generation: int | None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_owned(raw: Raw) -> ObservedOwned:
    meta = _metadata(raw)
    return ObservedOwned(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        public_id=_str_map(meta.get("labels")).get(labels.MODEL_ID) or None,
        generation=_generation(meta),
    )


@dataclass(frozen=True, slots=True, order=True)
class OwnedRef:
    """One object a model owns besides its Deployment, and the generation that applied it."""

    kind: str
    name: str
    api_version: str
    generation: int
