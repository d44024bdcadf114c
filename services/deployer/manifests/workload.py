"""The Deployment that runs vLLM.

`spec.replicas` is left out when a PodAutoscaler owns the count: with server-side apply
a field the deployer does not send is a field it does not own, so re-applying the same
model (an update, a repair) never resets what the autoscaler chose. Without an
autoscaler the deployer owns `replicas` and sets `deployment_config.replicas`.

The pod template carries the model's id but not its generation: a generation that
changes only the replica count, the autoscaler's bounds or the token's Secret must not
replace pods (under `Recreate` that is downtime). A restart changes the template's
`jan-models/restarted-at`, which is what rolls the pods.
"""

from datetime import UTC, datetime
from typing import Any, Final

from services.deployer.kinds import DEPLOYMENT
from services.deployer.manifests.meta import (
    HF_TOKEN_KEY,
    Manifest,
    cache_claim_name,
    header,
    labels,
    metadata,
    pod_selector,
    secret_name,
)
from shared.commands import CreateModel
from shared.labels import (
    GPU_MEMORY_LABEL,
    GPU_PRODUCT_LABEL,
    GPU_RESOURCE,
    MODEL_CONTAINER,
    MODEL_DB_ID_ANNOTATION,
    RESTARTED_AT_ANNOTATION,
    SERVE_PORT,
    SERVE_PORT_NAME,
)
from shared.model_spec import EnvVar, RolloutConfig
from shared.placement import gpu_type, gpus_per_replica, per_gpu_memory_mib

CONTAINER_NAME: Final = MODEL_CONTAINER
HEALTH_PATH: Final = "/health"
HF_CACHE_PATH: Final = "/root/.cache/huggingface"
SHM_VOLUME: Final = "dshm"
CACHE_VOLUME: Final = "hf-cache"
HF_TOKEN_ENV: Final = "HF_TOKEN"  # noqa: S105  # a variable name, not a secret
STARTUP_PERIOD_SECONDS: Final = 10
STARTUP_FAILURE_THRESHOLD: Final = 360
"""With a 10 s period, an hour of weight downloads before the kubelet gives up."""


def build_deployment(
    command: CreateModel, *, with_token: bool, secret_env_names: list[str] | None = None
) -> Manifest:
    config = command.deployment_config
    template_annotations = {MODEL_DB_ID_ANNOTATION: str(command.model_id)}
    if command.restarted_at is not None:
        template_annotations[RESTARTED_AT_ANNOTATION] = _timestamp(command.restarted_at)
    spec: dict[str, Any] = {
        "strategy": _strategy(config.rollout),
        "selector": {"matchLabels": pod_selector(command)},
        "template": {
            "metadata": {"labels": labels(command), "annotations": template_annotations},
            "spec": _pod_spec(
                command, with_token=with_token, secret_env_names=secret_env_names or []
            ),
        },
    }
    if not config.enable_autoscaling:
        spec = {"replicas": config.replicas, **spec}
    return {**header(DEPLOYMENT.api_version, DEPLOYMENT.kind, metadata(command)), "spec": spec}


def _strategy(rollout: RolloutConfig) -> Manifest:
    if rollout.strategy == "Recreate":
        return {"type": "Recreate"}
    return {
        "type": "RollingUpdate",
        "rollingUpdate": {
            "maxSurge": rollout.max_surge,
            "maxUnavailable": rollout.max_unavailable,
        },
    }


def _timestamp(moment: datetime) -> str:
    """UTC with microseconds; a moment without a zone (as MongoDB gives it back) is UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _pod_spec(command: CreateModel, *, with_token: bool, secret_env_names: list[str]) -> Manifest:
    config = command.deployment_config
    pod: Manifest = {
        "containers": [
            _container(command, with_token=with_token, secret_env_names=secret_env_names)
        ],
        "volumes": [
            {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}},
            _cache_volume(command),
        ],
    }
    affinity = _node_affinity(command)
    if affinity:
        pod["affinity"] = {"nodeAffinity": affinity}
    if gpus_per_replica(command.requirements, config) > 0:
        pod["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists"}]
    return pod


def _node_affinity(command: CreateModel) -> Manifest:
    """Required: GPUs with the memory and product admission checked, so the
    scheduler can never put a replica where admission would have refused it."""
    gpus = gpus_per_replica(command.requirements, command.deployment_config)
    expressions: list[Manifest] = []
    needed_mib = per_gpu_memory_mib(command.requirements, gpus)
    if needed_mib > 0:
        expressions.append(
            {"key": GPU_MEMORY_LABEL, "operator": "Gt", "values": [str(needed_mib - 1)]}
        )
    product = gpu_type(command.requirements)
    if product:
        expressions.append({"key": GPU_PRODUCT_LABEL, "operator": "In", "values": [product]})
    affinity: Manifest = {}
    if expressions:
        affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchExpressions": expressions}]
        }
    if command.planned_nodes:  # where admission reserved GPUs: the scheduler follows the plan
        planned = sorted(set(command.planned_nodes))
        affinity["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {
                "weight": 100,
                "preference": {
                    "matchFields": [{"key": "metadata.name", "operator": "In", "values": planned}]
                },
            }
        ]
    return affinity


def _cache_volume(command: CreateModel) -> Manifest:
    if command.deployment_config.enable_pvc:
        claim = {"claimName": cache_claim_name(command.name)}
        return {"name": CACHE_VOLUME, "persistentVolumeClaim": claim}
    return {"name": CACHE_VOLUME, "emptyDir": {}}


def _container(command: CreateModel, *, with_token: bool, secret_env_names: list[str]) -> Manifest:
    config = command.deployment_config
    container: Manifest = {
        "name": CONTAINER_NAME,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": list(config.command),
        "args": list(config.args),
        "ports": [{"name": SERVE_PORT_NAME, "containerPort": SERVE_PORT, "protocol": "TCP"}],
        "resources": _resources(command),
        "readinessProbe": _probe(initial_delay=config.initial_delay_seconds, period=10),
        "livenessProbe": _probe(initial_delay=config.initial_delay_seconds, period=30),
        "startupProbe": {
            **_probe(initial_delay=0, period=STARTUP_PERIOD_SECONDS),
            "failureThreshold": STARTUP_FAILURE_THRESHOLD,
        },
        "volumeMounts": [
            {"name": SHM_VOLUME, "mountPath": "/dev/shm"},  # noqa: S108  # inside the pod
            {"name": CACHE_VOLUME, "mountPath": HF_CACHE_PATH},
        ],
    }
    env = _env(
        config.extra_env,
        with_token=with_token,
        token_secret=secret_name(command.name),
        secret_env_names=secret_env_names,
    )
    if env:
        container["env"] = env
    return container


def _resources(command: CreateModel) -> Manifest:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if command.requirements.cpu:
        requests["cpu"] = command.requirements.cpu
    if command.requirements.memory:
        requests["memory"] = command.requirements.memory
    gpus = gpus_per_replica(command.requirements, command.deployment_config)
    if gpus > 0:
        requests[GPU_RESOURCE] = str(gpus)
        limits[GPU_RESOURCE] = str(gpus)
    resources: Manifest = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources


def _probe(*, initial_delay: int, period: int) -> Manifest:
    return {
        "httpGet": {"path": HEALTH_PATH, "port": SERVE_PORT},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


def _env(
    extra: list[EnvVar], *, with_token: bool, token_secret: str, secret_env_names: list[str]
) -> list[Manifest]:
    """HF_TOKEN from the Secret, then the extra variables, one entry per name; the secret
    ones from the Secret too, by `secretKeyRef`.

    Server-side apply treats `env` as a map keyed by name and rejects duplicate keys, so
    a repeated name keeps its last value, and HF_TOKEN from `hugging_face_token` wins
    over an HF_TOKEN in `extra_env`.
    """
    by_name: dict[str, Manifest] = {}
    for variable in extra:
        by_name[variable.name] = {"name": variable.name, "value": variable.value}
    for name in secret_env_names:
        by_name[name] = {"name": name, "valueFrom": _secret_ref(token_secret, name)}
    if with_token:
        by_name.pop(HF_TOKEN_ENV, None)
        token_ref = _secret_ref(token_secret, HF_TOKEN_KEY)
        return [{"name": HF_TOKEN_ENV, "valueFrom": token_ref}, *by_name.values()]
    return list(by_name.values())


def _secret_ref(secret: str, key: str) -> Manifest:
    return {"secretKeyRef": {"name": secret, "key": key}}
