"""The CustomResourceDefinitions the seed requires, and the one the deployer looks for."""

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class RequiredCrd:
    name: str
    component: str

    @property
    def missing_message(self) -> str:
        return f"{self.component} CRD not found - required for model deployment"


AIBRIX: Final = RequiredCrd("podautoscalers.autoscaling.aibrix.ai", "aibrix")
GPU_OPERATOR: Final = RequiredCrd("clusterpolicies.nvidia.com", "gpu operator")
KUBERAY: Final = RequiredCrd("rayclusters.ray.io", "kuberay")
ENVOY_GATEWAY: Final = RequiredCrd("gatewayclasses.gateway.networking.k8s.io", "envoy gateway")
REQUIRED_CRDS: Final = (AIBRIX, GPU_OPERATOR, KUBERAY, ENVOY_GATEWAY)

SERVICE_MONITOR_CRD: Final = "servicemonitors.monitoring.coreos.com"
WATCHED_CRDS: Final = (*(crd.name for crd in REQUIRED_CRDS), SERVICE_MONITOR_CRD)
