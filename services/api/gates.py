"""Whether the cluster can take a model at all, judged from the inventory's status reply."""

from services.api.requests import CreateModelRequest
from shared.crds import AIBRIX, GPU_OPERATOR
from shared.errors import CrdMissingError, InsufficientResourcesError
from shared.placement import gpu_type, gpus_per_replica
from shared.quantity import parse_quantity
from shared.queries import CapacityQuery, CapacityReply, StatusReply


def check_cluster(status: StatusReply, request: CreateModelRequest) -> None:
    """403 reasons, in the order a user fixes them: no Aibrix, no GPU Operator (no cluster
    at all is answered by the inventory adapter, before any status is used)."""
    if not status.cluster_status.aibrix_ok:
        raise CrdMissingError(AIBRIX)
    if capacity_query(request) is not None and not status.cluster_status.gpu_operator_ok:
        raise CrdMissingError(GPU_OPERATOR)


def capacity_query(request: CreateModelRequest) -> CapacityQuery | None:
    """What to ask the inventory when GPUs are requested; None when none are."""
    gpus = gpus_per_replica(request.requirements, request.deployment_config)
    if gpus == 0:
        return None
    gpu = request.requirements.gpu
    return CapacityQuery(
        min_gpus=gpus,
        min_vram=gpu.min_vram if gpu is not None else None,
        gpu_type=gpu_type(request.requirements),
    )


def check_capacity(query: CapacityQuery, reply: CapacityReply) -> None:
    if reply.fits:
        return
    error = InsufficientResourcesError(
        min_gpus=query.min_gpus,
        min_vram_bytes=int(parse_quantity(query.min_vram)) if query.min_vram else 0,
    )
    if reply.message:
        error.message = reply.message
        error.args = (reply.message,)
    raise error
