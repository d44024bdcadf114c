"""The Service Aibrix routes to, and the ServiceMonitor Prometheus scrapes it through."""

from typing import Final

from services.deployer.kinds import SERVICE, SERVICE_MONITOR
from services.deployer.manifests.meta import Manifest, header, metadata, pod_selector
from shared.commands import CreateModel
from shared.labels import SERVE_PORT, SERVE_PORT_NAME

METRICS_PATH: Final = "/metrics"
SCRAPE_INTERVAL: Final = "30s"


def build_service(command: CreateModel) -> Manifest:
    port = {
        "name": SERVE_PORT_NAME,
        "port": SERVE_PORT,
        "targetPort": SERVE_PORT_NAME,
        "protocol": "TCP",
    }
    spec = {"type": "ClusterIP", "selector": pod_selector(command), "ports": [port]}
    return {**header(SERVICE.api_version, SERVICE.kind, metadata(command)), "spec": spec}


def build_service_monitor(command: CreateModel) -> Manifest:
    spec = {
        "selector": {"matchLabels": pod_selector(command)},
        "namespaceSelector": {"matchNames": [command.namespace]},
        "endpoints": [{"port": SERVE_PORT_NAME, "path": METRICS_PATH, "interval": SCRAPE_INTERVAL}],
    }
    meta = metadata(command)
    return {**header(SERVICE_MONITOR.api_version, SERVICE_MONITOR.kind, meta), "spec": spec}
