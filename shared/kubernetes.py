"""A kubernetes-asyncio client for the deployer and the inventory.

Inside a pod the service account is used (`load_incluster_config` is synchronous);
elsewhere the kubeconfig named by `kubeconfig` or `KUBECONFIG` (`load_kube_config`
is a coroutine). The api holds no Kubernetes credentials and never calls this.
"""

import os
from pathlib import Path

from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration

IN_CLUSTER_HOST_VARIABLE = "KUBERNETES_SERVICE_HOST"


def default_kubeconfig() -> Path:
    return Path(os.environ.get("KUBECONFIG", "~/.kube/config")).expanduser()


def has_cluster(kubeconfig: Path | None = None) -> bool:
    """Whether there is a cluster to reach at all: a kubeconfig, or running in a pod."""
    if kubeconfig is None and os.environ.get(IN_CLUSTER_HOST_VARIABLE):
        return True
    return (kubeconfig or default_kubeconfig()).exists()


async def load_api_client(kubeconfig: Path | None = None) -> ApiClient:
    configuration = Configuration()
    if kubeconfig is None and os.environ.get(IN_CLUSTER_HOST_VARIABLE):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]  # unannotated upstream
    else:
        path = kubeconfig or default_kubeconfig()
        await config.load_kube_config(config_file=str(path), client_configuration=configuration)
    return ApiClient(configuration)
