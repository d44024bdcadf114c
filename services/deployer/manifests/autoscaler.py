"""Aibrix's PodAutoscaler (KPA) scaling the Deployment on one vLLM pod metric."""

from services.deployer.kinds import DEPLOYMENT, POD_AUTOSCALER
from services.deployer.manifests.meta import Manifest, header, metadata
from services.deployer.manifests.network import METRICS_PATH
from shared.commands import CreateModel
from shared.labels import SCALE_DOWN_DELAY_ANNOTATION, SERVE_PORT


def build_pod_autoscaler(command: CreateModel) -> Manifest:
    scaling = command.deployment_config.effective_autoscaling
    meta = metadata(
        command, extra_annotations={SCALE_DOWN_DELAY_ANNOTATION: scaling.scale_down_delay}
    )
    source = {
        "metricSourceType": "pod",
        "protocolType": "http",
        "port": str(SERVE_PORT),
        "path": METRICS_PATH,
        "targetMetric": scaling.target_metric,
        "targetValue": scaling.target_value,
    }
    spec = {
        "scaleTargetRef": {
            "apiVersion": DEPLOYMENT.api_version,
            "kind": DEPLOYMENT.kind,
            "name": command.name,
        },
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "scalingStrategy": "KPA",
        "metricsSources": [source],
    }
    return {**header(POD_AUTOSCALER.api_version, POD_AUTOSCALER.kind, meta), "spec": spec}
