"""Query replies computed from the in-memory store, serialized once and spliced.

A reply is the pydantic model's own JSON, but the long lists (one entry per GPU node,
one per model workload) are kept as cached per-entry fragments and joined into the
envelope, so a change to one node or one Deployment does not re-serialize thousands
(`reply_cache` keeps the fragments and the replies between changes).
"""

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import cast

from services.inventory.health import Assessment
from services.inventory.objects import ObservedNode, ObservedStorageClass, ObservedWorkload
from shared import crds
from shared.errors import insufficient_resources_message
from shared.quantity import MIB, parse_quantity, whole_gi
from shared.queries import (
    CapacityQuery,
    CapacityReply,
    ClusterStatus,
    GpuNode,
    ModelsReply,
    NodeGpus,
    StatusReply,
    WorkloadEntry,
)

GPU_NODES_MISSING = "gpu nodes"
STORAGE_CLASS_MISSING = "storage class"
_EMPTY_GPU_NODES = b'"gpu_nodes":[]'
_EMPTY_MODELS = b'"models":[]'


def gpu_node_fragment(node: ObservedNode, *, allocated: int) -> bytes:
    return gpu_node(node, allocated=allocated, reserved=0).model_dump_json().encode()


def gpu_node(node: ObservedNode, *, allocated: int, reserved: int) -> GpuNode:
    """free = allocatable - allocated - reserved on a schedulable node, else 0."""
    free = max(0, node.gpu_allocatable - allocated - reserved) if node.schedulable else 0
    return GpuNode(
        node_name=node.name,
        gpu_count=node.gpu_count,
        gpu_type=node.gpu_product,
        total_vram=whole_gi(node.gpu_count * node.gpu_memory_mib),
        available_vram=whole_gi(free * node.gpu_memory_mib),
        allocated_gpus=allocated,
        reserved_gpus=reserved,
        free_gpus=free,
        schedulable=node.schedulable,
        unschedulable_reason=node.unschedulable_reason,
    )


def node_gpus(node: ObservedNode, *, allocated: int) -> NodeGpus:
    return NodeGpus(
        node_name=node.name,
        gpu_type=node.gpu_product,
        gpu_memory_mib=node.gpu_memory_mib,
        allocatable=node.gpu_allocatable,
        allocated=allocated,
        schedulable=node.schedulable,
    )


def status_reply_bytes(
    *,
    connected: bool,
    in_cluster: bool = True,
    placement: list[NodeGpus] | None = None,
    bound_gpus: Mapping[str, Mapping[str, int]] | None = None,
    total_nodes: int,
    total_gpus: int,
    gpu_node_fragments: list[bytes],
    crd_names: set[str],
    storage_classes: Iterable[ObservedStorageClass],
    synced_at: datetime | None,
    version: str | None = None,
    foreign_objects: dict[str, list[str]] | None = None,
) -> bytes:
    classes = sorted(storage_classes, key=lambda sc: sc.name)
    default = next((sc.name for sc in classes if sc.is_default), None)
    missing = [crd.name for crd in crds.REQUIRED_CRDS if crd.name not in crd_names]
    if not gpu_node_fragments:
        missing.append(GPU_NODES_MISSING)
    if not classes:
        missing.append(STORAGE_CLASS_MISSING)
    reply = StatusReply(
        connected=connected,
        cluster_status=ClusterStatus(
            has_gpus=total_gpus > 0,
            total_nodes=total_nodes,
            gpu_nodes=[],
            total_gpus=total_gpus,
            gpu_operator_ok=crds.GPU_OPERATOR.name in crd_names,
            aibrix_ok=crds.AIBRIX.name in crd_names,
            kuberay_ok=crds.KUBERAY.name in crd_names,
            envoy_gateway_ok=crds.ENVOY_GATEWAY.name in crd_names,
        ),
        storage_classes=[sc.name for sc in classes],
        default_storage_class=default,
        service_monitor_ok=crds.SERVICE_MONITOR_CRD in crd_names,
        missing=missing,
        synced_at=synced_at,
        version=version,
        in_cluster=in_cluster,
        placement=placement or [],
        # Validation copies it into the reply: the store's mapping is read, never kept.
        bound_gpus=cast(dict[str, dict[str, int]], bound_gpus or {}),
        foreign_objects=foreign_objects or {},
    )
    envelope = reply.model_dump_json().encode()
    nodes = b'"gpu_nodes":[' + b",".join(gpu_node_fragments) + b"]"
    return envelope.replace(_EMPTY_GPU_NODES, nodes, 1)


def workload_fragment(workload: ObservedWorkload, *, assessment: Assessment) -> bytes:
    entry = WorkloadEntry(
        name=workload.name,
        namespace=workload.namespace,
        is_managed=workload.managed,
        status=assessment.phase,
        replicas=workload.replicas,
        ready_replicas=workload.ready_replicas,
        created_at=workload.created_at,
        organization_id=workload.organization_id,
        public_id=workload.public_id,
    )
    return entry.model_dump_json().encode()


def models_reply_bytes(
    fragments: list[bytes],
    *,
    offset: int,
    limit: int | None,
    max_bytes: int,
    version: str | None = None,
    pages_subject: str | None = None,
) -> bytes:
    """One page: at most `limit` entries, and never more bytes than `max_bytes` allows."""
    total = len(fragments)
    budget = max_bytes - 256  # the envelope: total, next_offset, version, pages_subject
    end = offset
    size = 0
    stop = total if limit is None else min(total, offset + limit)
    while end < stop and (end == offset or size + len(fragments[end]) + 1 <= budget):
        size += len(fragments[end]) + 1
        end += 1
    next_offset = end if end < total else None
    envelope = ModelsReply(
        models=[],
        total=total,
        next_offset=next_offset,
        version=version,
        pages_subject=pages_subject if next_offset is not None else None,
    ).model_dump_json()
    page = b'"models":[' + b",".join(fragments[offset:end]) + b"]"
    return envelope.encode().replace(_EMPTY_MODELS, page, 1)


def capacity_reply(
    query: CapacityQuery, nodes: Iterable[tuple[ObservedNode, int]]
) -> CapacityReply:
    """an eligible node with enough free allocatable GPUs, each with the memory
    the Deployment's node affinity requires (ceil(min_vram / GPUs asked))."""
    min_vram = int(parse_quantity(query.min_vram)) if query.min_vram else 0
    if query.min_gpus == 0 and min_vram == 0 and not query.gpu_type:
        return CapacityReply(fits=True)
    needed_mib = -(-min_vram // (max(1, query.min_gpus) * MIB))
    for node, allocated in nodes:
        if not node.schedulable or node.gpu_count == 0:
            continue
        if query.gpu_type and node.gpu_product != query.gpu_type:
            continue
        if node.gpu_allocatable - allocated < query.min_gpus:
            continue
        if node.gpu_memory_mib < needed_mib:
            continue
        return CapacityReply(fits=True, node_name=node.name)
    return CapacityReply(
        fits=False,
        message=insufficient_resources_message(min_gpus=query.min_gpus, min_vram_bytes=min_vram),
    )
