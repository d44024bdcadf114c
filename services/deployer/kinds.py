"""The kinds of object the deployer writes, and where each lives in the REST API.

One table serves apply, prune and delete, so a kind added here is handled by all three.
`crd` names the CustomResourceDefinition a kind needs; such kinds are only touched when
the CRD exists in the cluster.
"""

from dataclasses import dataclass
from typing import Final

from shared.crds import AIBRIX, SERVICE_MONITOR_CRD


@dataclass(frozen=True, slots=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    crd: str | None = None

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def collection_path(self, namespace: str) -> str:
        root = f"/apis/{self.api_version}" if self.group else f"/api/{self.api_version}"
        return f"{root}/namespaces/{namespace}/{self.plural}"

    def object_path(self, namespace: str, name: str) -> str:
        return f"{self.collection_path(namespace)}/{name}"


DEPLOYMENT: Final = Kind("apps/v1", "Deployment", "deployments")
SERVICE: Final = Kind("v1", "Service", "services")
SECRET: Final = Kind("v1", "Secret", "secrets")
PVC: Final = Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims")
SERVICE_MONITOR: Final = Kind(
    "monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors", crd=SERVICE_MONITOR_CRD
)
POD_AUTOSCALER: Final = Kind(
    "autoscaling.aibrix.ai/v1alpha1", "PodAutoscaler", "podautoscalers", crd=AIBRIX.name
)

ALL_KINDS: Final = (DEPLOYMENT, SERVICE, SECRET, PVC, SERVICE_MONITOR, POD_AUTOSCALER)
"""Every kind a model may own, in the order a delete removes them (workload first)."""

BY_KIND: Final = {kind.kind: kind for kind in ALL_KINDS}

POD: Final = Kind("v1", "Pod", "pods")
"""Never written: a delete is finished only once no pod of the model is left either."""

NAMESPACE_PATH: Final = "/api/v1/namespaces"
CRD_PATH: Final = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
