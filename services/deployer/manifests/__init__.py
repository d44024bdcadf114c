"""Manifests as data: a command in, the list of objects to apply out.

Pure functions, no cluster access: what the cluster offers (is the ServiceMonitor CRD
there?) and the decrypted token are passed in. The order is the apply order: what the
Deployment refers to (Secret, PVC) first, so its pods never wait on a missing volume.
"""

from dataclasses import dataclass

from pydantic import SecretStr

from services.deployer.kinds import ALL_KINDS, BY_KIND, Kind
from services.deployer.manifests.autoscaler import build_pod_autoscaler
from services.deployer.manifests.meta import Manifest
from services.deployer.manifests.network import build_service, build_service_monitor
from services.deployer.manifests.storage import build_cache_claim, build_token_secret
from services.deployer.manifests.workload import build_deployment
from shared.commands import CreateModel

__all__ = ["Manifest", "ModelManifests", "build_manifests", "kind_of"]


@dataclass(frozen=True, slots=True)
class ModelManifests:
    objects: list[Manifest]
    absent: list[Kind]
    """Kinds this model must not have (a feature turned off): removed if a past generation made them."""


def build_manifests(
    command: CreateModel,
    *,
    token: SecretStr | None,
    service_monitors: bool,
    secret_env: dict[str, SecretStr] | None = None,
) -> ModelManifests:
    """`token` and `secret_env` are the decrypted secrets: they go into the Secret only."""
    config = command.deployment_config
    secret_env = dict(secret_env or {})
    objects: list[Manifest] = []
    if token is not None or secret_env:
        objects.append(build_token_secret(command, token, secret_env))
    if config.enable_pvc:
        objects.append(build_cache_claim(command))
    objects.append(build_service(command))
    objects.append(
        build_deployment(command, with_token=token is not None, secret_env_names=list(secret_env))
    )
    if service_monitors:
        objects.append(build_service_monitor(command))
    if config.enable_autoscaling:
        objects.append(build_pod_autoscaler(command))
    present = {manifest["kind"] for manifest in objects}
    absent = [kind for kind in ALL_KINDS if kind.kind not in present]
    return ModelManifests(objects=objects, absent=absent)


def kind_of(manifest: Manifest) -> Kind:
    return BY_KIND[manifest["kind"]]
