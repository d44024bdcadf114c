"""The Hugging Face token Secret and the weights cache PersistentVolumeClaim.

Access mode: a model that may run more than one replica (autoscaling with
`max_replicas > 1`, or `replicas > 1`) gets `ReadWriteMany`, because its replicas land
on different GPU nodes and must all mount the cache; a single-replica model gets
`ReadWriteOnce`, which every storage class offers. A PVC's access modes are immutable,
so a later generation that crosses that line is rejected by the cluster (422) and ends
in a `failed` event rather than a silently unusable claim.
"""

import base64

from pydantic import SecretStr

from services.deployer.kinds import PVC, SECRET
from services.deployer.manifests.meta import (
    HF_TOKEN_KEY,
    Manifest,
    cache_claim_name,
    header,
    metadata,
    secret_name,
)
from shared.commands import CreateModel


def build_token_secret(
    command: CreateModel, token: SecretStr | None, secret_env: dict[str, SecretStr] | None = None
) -> Manifest:
    """`data` rather than `stringData`: server-side apply owns `data` keys cleanly. The
    token under `token`, each secret `extra_env` value under its variable's name."""
    values = dict(secret_env or {})
    if token is not None:
        values[HF_TOKEN_KEY] = token
    meta = metadata(command, name=secret_name(command.name))
    return {
        **header(SECRET.api_version, SECRET.kind, meta),
        "type": "Opaque",
        "data": {
            key: base64.b64encode(value.get_secret_value().encode()).decode()
            for key, value in values.items()
        },
    }


def cache_access_mode(command: CreateModel) -> str:
    config = command.deployment_config
    most = (
        config.effective_autoscaling.max_replicas if config.enable_autoscaling else config.replicas
    )
    return "ReadWriteMany" if most > 1 else "ReadWriteOnce"


def build_cache_claim(command: CreateModel) -> Manifest:
    config = command.deployment_config
    spec: Manifest = {
        "accessModes": [cache_access_mode(command)],
        "resources": {"requests": {"storage": config.pvc_size}},
    }
    if config.storage_class:
        spec["storageClassName"] = config.storage_class
    meta = metadata(command, name=cache_claim_name(command.name))
    return {**header(PVC.api_version, PVC.kind, meta), "spec": spec}
