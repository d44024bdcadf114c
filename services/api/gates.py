"""Whether the cluster can take a model at all, judged from the inventory's status reply."""

from services.api.requests import CreateModelRequest
from shared.crds import AIBRIX, GPU_OPERATOR
from shared.errors import CrdMissingError
from shared.placement import gpus_per_replica
from shared.queries import StatusReply


def check_cluster(status: StatusReply, request: CreateModelRequest) -> None:
    """403 reasons, in the order a user fixes them: no Aibrix, no GPU Operator (no cluster
    at all is answered by the inventory adapter, before any status is used)."""
    if not status.cluster_status.aibrix_ok:
        raise CrdMissingError(AIBRIX)
    asks_gpus = gpus_per_replica(request.requirements, request.deployment_config) > 0
    if asks_gpus and not status.cluster_status.gpu_operator_ok:
        raise CrdMissingError(GPU_OPERATOR)
