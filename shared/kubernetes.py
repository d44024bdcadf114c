"""A kubernetes-asyncio client for the deployer and the inventory.

One rule picks the cluster, the way kubectl does: the service's own setting
(`JAN_MODELS_KUBECONFIG`), else `KUBECONFIG`, else the pod's service account when running
in a pod (`load_incluster_config` is synchronous), else `~/.kube/config`
(`load_kube_config` is a coroutine). The api holds no Kubernetes credentials and never
calls this.
"""

import os
from collections.abc import Mapping
from pathlib import Path

from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration

IN_CLUSTER_HOST_VARIABLE = "KUBERNETES_SERVICE_HOST"
DEFAULT_KUBECONFIG = "~/.kube/config"


def resolve_kubeconfig(
    explicit: Path | None, environ: Mapping[str, str] = os.environ
) -> Path | None:
    """The kubeconfig to read, or None for the in-cluster service account."""
    if explicit is not None:
        return explicit.expanduser()
    if environ.get("KUBECONFIG"):
        return Path(environ["KUBECONFIG"]).expanduser()
    if environ.get(IN_CLUSTER_HOST_VARIABLE):
        return None
    return Path(DEFAULT_KUBECONFIG).expanduser()


def has_cluster(kubeconfig: Path | None = None, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether there is a cluster to reach at all: running in a pod, or a kubeconfig file."""
    path = resolve_kubeconfig(kubeconfig, environ)
    return path is None or path.exists()


async def load_api_client(kubeconfig: Path | None = None) -> ApiClient:
    configuration = Configuration()
    path = resolve_kubeconfig(kubeconfig)
    if path is None:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]  # unannotated upstream
    else:
        await config.load_kube_config(config_file=str(path), client_configuration=configuration)
    return ApiClient(configuration)
