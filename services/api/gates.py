"""Whether the cluster can take a model at all, judged from the inventory's status reply."""

from services.api.requests import CreateModelRequest
from shared.crds import AIBRIX, GPU_OPERATOR
from shared.errors import (
    CrdMissingError,
    InventoryUnavailableError,
    NotInClusterError,
    ObjectNotOursError,
)
from shared.names import DEFAULT_NAMESPACE
from shared.objects import object_names
from shared.placement import gpus_per_replica
from shared.queries import StatusReply


def available(status: StatusReply) -> StatusReply:
    """The reply, when it describes a cluster: no cluster to reach is the seed's 403, a
    cluster not synced yet a 503 (the inventory adapter applies this to every reply)."""
    if not status.in_cluster:
        raise NotInClusterError
    if not status.connected:
        raise InventoryUnavailableError("the inventory has not synced with the cluster yet")
    return status


def check_names_free(status: StatusReply, request: CreateModelRequest) -> None:
    """409 for the first object the model would own (in apply order) that exists already
    without a model id: someone else's, never to be taken over. An object is ours only when
    it carries the model-id label; nothing else is ever modified or deleted."""
    config = request.deployment_config
    wanted = object_names(
        request.name,
        secret=config.hugging_face_token is not None or bool(config.secret_env()),
        cache=config.enable_pvc,
        service_monitor=status.service_monitor_ok,
        autoscaler=config.enable_autoscaling,
    )
    for kind, name in wanted:
        if name in status.foreign_objects.get(kind, ()):
            raise ObjectNotOursError(object_kind=kind, namespace=DEFAULT_NAMESPACE, name=name)


def check_cluster(status: StatusReply, request: CreateModelRequest) -> None:
    """403 reasons, in the order a user fixes them: no Aibrix, no GPU Operator (no cluster
    at all is `available`'s to answer, before any status is used)."""
    if not status.cluster_status.aibrix_ok:
        raise CrdMissingError(AIBRIX)
    asks_gpus = gpus_per_replica(request.requirements, request.deployment_config) > 0
    if asks_gpus and not status.cluster_status.gpu_operator_ok:
        raise CrdMissingError(GPU_OPERATOR)
