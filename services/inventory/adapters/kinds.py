"""What the inventory watches, as REST paths (cluster-wide) and label selectors."""

from typing import Final

from services.inventory.adapters.kube_watch import WatchTarget
from services.inventory.cluster import Kind
from shared import crds, labels

REQUIRED_TARGETS: Final = (
    WatchTarget(Kind.NODES, "/api/v1/nodes"),
    WatchTarget(Kind.PODS, "/api/v1/pods"),
    WatchTarget(Kind.CRDS, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"),
    WatchTarget(Kind.STORAGE_CLASSES, "/apis/storage.k8s.io/v1/storageclasses"),
    # Every model Deployment, managed or not: the label's presence is the selector.
    WatchTarget(Kind.WORKLOADS, "/apis/apps/v1/deployments", label_selector=labels.MODEL_NAME),
)
# Watched only while Aibrix's CRD exists.
AUTOSCALERS_CRD: Final = crds.AIBRIX.name
AUTOSCALERS_TARGET: Final = WatchTarget(
    Kind.AUTOSCALERS, "/apis/autoscaling.aibrix.ai/v1alpha1/podautoscalers"
)
# What Kubernetes says went wrong with pods: the reasons a failed model shows.
POD_EVENTS_TARGET: Final = WatchTarget(
    Kind.POD_EVENTS, "/api/v1/events", field_selector="involvedObject.kind=Pod,type=Warning"
)
