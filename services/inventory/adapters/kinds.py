"""What the inventory watches, as REST paths and label selectors.

Cluster facts and model Deployments are watched cluster-wide. In the models' namespace it
also watches every object of the kinds a model owns, ours or not: ours to notice one
deleted by hand (drift), the others to refuse a model whose objects would take their
names (409). Secrets are read as metadata only.
"""

from typing import Final

from services.inventory.adapters.kube_watch import WatchTarget
from services.inventory.store import Watched
from shared import crds, labels
from shared.names import DEFAULT_NAMESPACE

_MODELS: Final = f"namespaces/{DEFAULT_NAMESPACE}"

REQUIRED_TARGETS: Final = (
    WatchTarget(Watched.NODES, "/api/v1/nodes"),
    WatchTarget(Watched.PODS, "/api/v1/pods"),
    WatchTarget(Watched.CRDS, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"),
    WatchTarget(Watched.STORAGE_CLASSES, "/apis/storage.k8s.io/v1/storageclasses"),
    # Every model Deployment, managed or not: the label's presence is the selector.
    WatchTarget(Watched.WORKLOADS, "/apis/apps/v1/deployments", label_selector=labels.MODEL_NAME),
    WatchTarget(Watched.SERVICES, f"/api/v1/{_MODELS}/services", metadata_only=True),
    WatchTarget(Watched.SECRETS, f"/api/v1/{_MODELS}/secrets", metadata_only=True),
    WatchTarget(Watched.CLAIMS, f"/api/v1/{_MODELS}/persistentvolumeclaims", metadata_only=True),
    # A model's own Deployments are in WORKLOADS; here only those no model owns.
    WatchTarget(
        Watched.FOREIGN_WORKLOADS,
        f"/apis/apps/v1/{_MODELS}/deployments",
        label_selector=f"!{labels.MODEL_ID}",
        metadata_only=True,
    ),
)
OPTIONAL_TARGETS: Final = {
    crds.AIBRIX.name: WatchTarget(
        Watched.AUTOSCALERS, "/apis/autoscaling.aibrix.ai/v1alpha1/podautoscalers"
    ),
    crds.SERVICE_MONITOR_CRD: WatchTarget(
        Watched.SERVICE_MONITORS,
        f"/apis/monitoring.coreos.com/v1/{_MODELS}/servicemonitors",
        metadata_only=True,
    ),
}
"""Watched only while their CRD exists."""
# What Kubernetes says went wrong with pods: the reasons a failed model shows.
POD_EVENTS_TARGET: Final = WatchTarget(
    Watched.POD_EVENTS, "/api/v1/events", field_selector="involvedObject.kind=Pod,type=Warning"
)
