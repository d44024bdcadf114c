"""The MongoDB documents of the projections: one per object, keyed by namespace/name."""

from services.inventory.health import Assessment
from services.inventory.objects import (
    ObservedAutoscaler,
    ObservedCrd,
    ObservedNode,
    ObservedPod,
    ObservedStorageClass,
    ObservedWorkload,
)
from services.inventory.resource_version import as_int
from shared.records import Document


def _base(key: str, resource_version: str) -> Document:
    return {"_id": key, "resource_version": resource_version, "rv": as_int(resource_version)}


def node_document(node: ObservedNode, *, allocated: int) -> Document:
    return {
        **_base(node.key, node.resource_version),
        "name": node.name,
        "gpu_count": node.gpu_count,
        "gpu_product": node.gpu_product,
        "gpu_memory_mib": node.gpu_memory_mib,
        "allocated_gpus": allocated,
        "gpu_allocatable": node.gpu_allocatable,
        "free_gpus": max(0, node.gpu_allocatable - allocated) if node.schedulable else 0,
        "unschedulable_reason": node.unschedulable_reason,
    }


def pod_document(pod: ObservedPod) -> Document:
    return {
        **_base(pod.key, pod.resource_version),
        "name": pod.name,
        "namespace": pod.namespace,
        "node_name": pod.node_name or None,
        "phase": pod.phase,
        "gpu_request": pod.gpu_request,
        "model_name": pod.model_name or None,
        "public_id": pod.public_id or None,
        "waiting_reasons": [w.reason for w in pod.waiting],
        "restart_count": pod.restart_count,
        "owner": pod.owner or None,
    }


def workload_document(workload: ObservedWorkload, *, assessment: Assessment) -> Document:
    return {
        **_base(workload.key, workload.resource_version),
        "name": workload.name,
        "namespace": workload.namespace,
        "model_name": workload.model_name,
        "managed": workload.managed,
        "organization_id": workload.organization_id,
        "public_id": workload.public_id,
        "replicas": workload.replicas,
        "ready_replicas": workload.ready_replicas,
        "status": assessment.phase,
        "status_reason": assessment.failure.reason if assessment.failure else None,
        "created_at": workload.created_at,
    }


def crd_document(crd: ObservedCrd) -> Document:
    return {**_base(crd.key, crd.resource_version), "name": crd.name, "present": True}


def storage_class_document(storage_class: ObservedStorageClass) -> Document:
    return {
        **_base(storage_class.key, storage_class.resource_version),
        "name": storage_class.name,
        "provisioner": storage_class.provisioner,
        "is_default": storage_class.is_default,
    }


def autoscaler_document(autoscaler: ObservedAutoscaler) -> Document:
    return {
        **_base(autoscaler.key, autoscaler.resource_version),
        "name": autoscaler.name,
        "namespace": autoscaler.namespace,
        "target": autoscaler.target,
        "min_replicas": autoscaler.min_replicas,
        "max_replicas": autoscaler.max_replicas,
        "public_id": autoscaler.public_id,
    }
