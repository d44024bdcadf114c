"""The seed's create example, built into manifests and read back field by field."""

import base64
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from services.deployer.manifests import Manifest, build_manifests
from shared.commands import CreateModel
from shared.labels import (
    GENERATION_ANNOTATION,
    MODEL_DB_ID_ANNOTATION,
    RESTARTED_AT_ANNOTATION,
    SCALE_DOWN_DELAY_ANNOTATION,
    model_labels,
)
from shared.model_spec import (
    DeploymentConfig,
    EnvVar,
    GpuRequirements,
    Requirements,
    RolloutConfig,
)
from tests.shared.examples import seed_create_command

TOKEN = SecretStr("hf_your_token_here")
SEED_LABELS = {
    "model.aibrix.ai/name": "qwen3-coder-30b",
    "model.aibrix.ai/port": "8000",
    "jan-server.menlo.ai/managed": "true",
    "jan-server.menlo.ai/organization-id": "123",
    "jan-server.menlo.ai/model-id": "mdl_abc123def456",
    "app.kubernetes.io/managed-by": "jan-models",
}


def seed_objects(*, token: SecretStr | None = TOKEN, monitors: bool = True) -> dict[str, Manifest]:
    built = build_manifests(seed_create_command(), token=token, service_monitors=monitors)
    return {obj["kind"]: obj for obj in built.objects}


def with_config(**changes: Any) -> CreateModel:
    command = seed_create_command()
    config = command.deployment_config.model_copy(update=changes)
    return command.model_copy(update={"deployment_config": config})


def container(objects: dict[str, Manifest]) -> Manifest:
    containers = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Manifest = containers[0]
    return result


def test_seed_example_yields_the_six_objects_in_apply_order() -> None:
    built = build_manifests(seed_create_command(), token=TOKEN, service_monitors=True)
    assert [(o["kind"], o["metadata"]["name"]) for o in built.objects] == [
        ("Secret", "qwen3-coder-30b-hf-token"),
        ("PersistentVolumeClaim", "qwen3-coder-30b-cache"),
        ("Service", "qwen3-coder-30b"),
        ("Deployment", "qwen3-coder-30b"),
        ("ServiceMonitor", "qwen3-coder-30b"),
        ("PodAutoscaler", "qwen3-coder-30b"),
    ]
    assert built.absent == []


def test_every_object_and_the_pod_template_carry_the_labels_and_annotations() -> None:
    objects = seed_objects()
    assert (
        model_labels(name="qwen3-coder-30b", organization_id=123, public_id="mdl_abc123def456")
        == SEED_LABELS
    )
    template = objects["Deployment"]["spec"]["template"]["metadata"]
    for meta in [*(obj["metadata"] for obj in objects.values()), template]:
        assert meta["labels"] == SEED_LABELS
        assert meta["annotations"][MODEL_DB_ID_ANNOTATION] == "1"
    for obj in objects.values():
        assert obj["metadata"]["annotations"][GENERATION_ANNOTATION] == "1"
    assert GENERATION_ANNOTATION not in template["annotations"]
    for obj in objects.values():
        assert obj["metadata"]["namespace"] == "jan-models"


def test_deployment_runs_vllm_as_the_seed_describes() -> None:
    deployment = seed_objects()["Deployment"]
    spec = deployment["spec"]
    assert deployment["apiVersion"] == "apps/v1"
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["selector"]["matchLabels"].items() <= SEED_LABELS.items()
    vllm = container(seed_objects())
    assert vllm["name"] == "vllm-openai"
    assert vllm["image"] == "registry.menlo.ai/dockerhub/vllm/vllm-openai:v0.10.2"
    assert vllm["imagePullPolicy"] == "IfNotPresent"
    assert vllm["command"] == ["sh"]
    assert vllm["args"][0] == "-c"
    assert "--served-model-name qwen3-coder-30b" in vllm["args"][1]
    assert vllm["ports"] == [{"name": "serve", "containerPort": 8000, "protocol": "TCP"}]
    assert vllm["resources"] == {
        "requests": {"cpu": "2000m", "memory": "16Gi", "nvidia.com/gpu": "1"},
        "limits": {"nvidia.com/gpu": "1"},
    }


def test_probes_wait_the_initial_delay_and_startup_tolerates_slow_downloads() -> None:
    vllm = container(seed_objects())
    for probe in ("readinessProbe", "livenessProbe"):
        assert vllm[probe]["httpGet"] == {"path": "/health", "port": 8000}
        assert vllm[probe]["initialDelaySeconds"] == 240
    startup = vllm["startupProbe"]
    assert startup["httpGet"] == {"path": "/health", "port": 8000}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 3600


def test_volumes_shm_in_memory_and_hf_cache_on_the_claim() -> None:
    objects = seed_objects()
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container(objects)["volumeMounts"]}
    assert volumes[mounts["/dev/shm"]]["emptyDir"] == {"medium": "Memory"}
    cache = volumes[mounts["/root/.cache/huggingface"]]
    assert cache["persistentVolumeClaim"] == {"claimName": "qwen3-coder-30b-cache"}


def test_without_pvc_the_cache_is_an_empty_dir_and_no_claim_is_built() -> None:
    built = build_manifests(with_config(enable_pvc=False), token=None, service_monitors=True)
    kinds = [obj["kind"] for obj in built.objects]
    assert "PersistentVolumeClaim" not in kinds
    assert "Secret" not in kinds
    assert {kind.kind for kind in built.absent} == {"PersistentVolumeClaim", "Secret"}
    deployment = next(obj for obj in built.objects if obj["kind"] == "Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "hf-cache", "emptyDir": {}} in volumes


def test_token_goes_into_the_secret_and_reaches_the_pod_only_by_reference() -> None:
    objects = seed_objects()
    secret = objects["Secret"]
    assert base64.b64decode(secret["data"]["token"]).decode() == "hf_your_token_here"
    env = container(objects)["env"]
    assert env[0] == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "qwen3-coder-30b-hf-token", "key": "token"}},
    }
    assert {"name": "CUDA_VISIBLE_DEVICES", "value": "0"} in env
    assert "hf_your_token_here" not in str(objects["Deployment"])


def test_extra_env_is_one_entry_per_name_and_never_overrides_the_secret() -> None:
    command = with_config(
        extra_env=[
            EnvVar(name="A", value="1"),
            EnvVar(name="A", value="2"),
            EnvVar(name="HF_TOKEN", value="hf_literal_token"),
        ]
    )
    built = build_manifests(command, token=TOKEN, service_monitors=False)
    deployment = next(obj for obj in built.objects if obj["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [variable["name"] for variable in env] == ["HF_TOKEN", "A"]
    assert env[1]["value"] == "2"
    assert "valueFrom" in env[0]


def test_pvc_uses_the_cluster_default_class_when_storage_class_is_empty() -> None:
    claim = seed_objects()["PersistentVolumeClaim"]
    assert "storageClassName" not in claim["spec"]
    assert claim["spec"]["resources"] == {"requests": {"storage": "100Gi"}}
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # up to 8 replicas share it
    named = build_manifests(
        with_config(storage_class="fast", enable_autoscaling=False),
        token=None,
        service_monitors=False,
    )
    claim = next(obj for obj in named.objects if obj["kind"] == "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]  # one replica


def test_service_is_cluster_ip_on_port_serve() -> None:
    service = seed_objects()["Service"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "serve", "port": 8000, "targetPort": "serve", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"].items() <= SEED_LABELS.items()


def test_service_monitor_scrapes_serve_metrics_every_30s_only_when_its_crd_exists() -> None:
    monitor = seed_objects()["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"] == [
        {"port": "serve", "path": "/metrics", "interval": "30s"}
    ]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= SEED_LABELS.items()
    assert "ServiceMonitor" not in seed_objects(monitors=False)


def test_pod_autoscaler_is_aibrix_kpa_on_the_deployment() -> None:
    autoscaler = seed_objects()["PodAutoscaler"]
    assert autoscaler["apiVersion"] == "autoscaling.aibrix.ai/v1alpha1"
    assert autoscaler["metadata"]["annotations"][SCALE_DOWN_DELAY_ANNOTATION] == "3m"
    assert autoscaler["spec"] == {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "qwen3-coder-30b",
        },
        "minReplicas": 1,
        "maxReplicas": 8,
        "scalingStrategy": "KPA",
        "metricsSources": [
            {
                "metricSourceType": "pod",
                "protocolType": "http",
                "port": "8000",
                "path": "/metrics",
                "targetMetric": "num_requests_running",
                "targetValue": "40",
            }
        ],
    }


def test_replicas_are_left_to_the_autoscaler_when_one_owns_them() -> None:
    assert "replicas" not in seed_objects()["Deployment"]["spec"]
    fixed = build_manifests(
        with_config(enable_autoscaling=False, replicas=3), token=None, service_monitors=False
    )
    deployment = next(obj for obj in fixed.objects if obj["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert "PodAutoscaler" in {kind.kind for kind in fixed.absent}


def pod_of(command: CreateModel) -> Manifest:
    built = build_manifests(command, token=None, service_monitors=False)
    deployment = next(o for o in built.objects if o["kind"] == "Deployment")
    return dict(deployment["spec"]["template"]["spec"])


def with_gpu(requirements: Requirements, **config: Any) -> CreateModel:
    command = with_config(**config)
    return command.model_copy(update={"requirements": requirements})


def test_gpu_type_and_memory_become_required_node_affinity_and_the_gpu_taint_is_tolerated() -> None:
    requirements = Requirements(
        cpu="1", gpu=GpuRequirements(min_vram="48Gi", min_gpus=2, gpu_type="NVIDIA-A100-SXM4-40GB")
    )
    pod = pod_of(with_gpu(requirements, gpu_count=None))
    required = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required == {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [
                    {"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": ["24575"]},
                    {
                        "key": "nvidia.com/gpu.product",
                        "operator": "In",
                        "values": ["NVIDIA-A100-SXM4-40GB"],
                    },
                ]
            }
        ]
    }
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    assert pod["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "2"}


def test_a_min_vram_without_gpu_count_asks_one_gpu_of_that_memory() -> None:
    pod = pod_of(with_gpu(Requirements(gpu=GpuRequirements(min_vram="24Gi")), gpu_count=None))
    assert pod["containers"][0]["resources"]["requests"] == {"nvidia.com/gpu": "1"}
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert term["matchExpressions"] == [
        {"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": ["24575"]}
    ]


def test_cpu_only_models_ask_for_no_gpu_no_affinity_and_tolerate_no_gpu_taint() -> None:
    cpu_only = seed_create_command().model_copy(
        update={
            "requirements": Requirements(),
            "deployment_config": DeploymentConfig(image="x", command=["sh"], args=[]),
        }
    )
    pod = pod_of(cpu_only)
    assert "affinity" not in pod
    assert "tolerations" not in pod
    assert pod["containers"][0]["resources"] == {}


def test_secret_extra_env_values_go_into_the_secret_and_are_read_by_secret_key_ref() -> None:
    command = with_config(extra_env=[EnvVar(name="LOG_LEVEL", value="info")])
    secret_env = {"DB_PASSWORD": SecretStr("pw-1"), "WANDB_API_KEY": SecretStr("k-1")}
    built = build_manifests(command, token=None, service_monitors=False, secret_env=secret_env)
    objects = {obj["kind"]: obj for obj in built.objects}

    data = objects["Secret"]["data"]
    assert {k: base64.b64decode(v).decode() for k, v in data.items()} == {
        "DB_PASSWORD": "pw-1",
        "WANDB_API_KEY": "k-1",
    }
    env = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "LOG_LEVEL", "value": "info"},
        {
            "name": "DB_PASSWORD",
            "valueFrom": {
                "secretKeyRef": {"name": "qwen3-coder-30b-hf-token", "key": "DB_PASSWORD"}
            },
        },
        {
            "name": "WANDB_API_KEY",
            "valueFrom": {
                "secretKeyRef": {"name": "qwen3-coder-30b-hf-token", "key": "WANDB_API_KEY"}
            },
        },
    ]
    assert "pw-1" not in repr(objects["Deployment"])


def template_of(command: CreateModel) -> Manifest:
    built = build_manifests(command, token=None, service_monitors=False)
    deployment = next(o for o in built.objects if o["kind"] == "Deployment")
    return dict(deployment["spec"]["template"])


def test_a_new_generation_that_changes_only_replicas_keeps_the_pod_template() -> None:
    first = with_config(enable_autoscaling=False, replicas=1)
    scaled = with_config(enable_autoscaling=False, replicas=3).model_copy(update={"generation": 2})
    assert template_of(first) == template_of(scaled)
    assert template_of(first) != template_of(
        with_config(enable_autoscaling=False, image="vllm/vllm-openai:v0.10.0")
    )


def test_a_restart_stamps_the_pod_template_and_later_generations_keep_the_stamp() -> None:
    moment = datetime(2026, 12, 1, 22, 30, 5, 123456, tzinfo=UTC)
    restarted = seed_create_command().model_copy(update={"generation": 2, "restarted_at": moment})
    annotations = template_of(restarted)["metadata"]["annotations"]
    assert annotations[RESTARTED_AT_ANNOTATION] == "2026-12-01T22:30:05.123456Z"
    later = restarted.model_copy(update={"generation": 3})
    assert template_of(later) == template_of(restarted)
    assert (
        RESTARTED_AT_ANNOTATION not in template_of(seed_create_command())["metadata"]["annotations"]
    )


def test_rollout_becomes_the_deployment_strategy() -> None:
    def strategy(rollout: RolloutConfig) -> Manifest:
        built = build_manifests(with_config(rollout=rollout), token=None, service_monitors=False)
        deployment = next(o for o in built.objects if o["kind"] == "Deployment")
        return dict(deployment["spec"]["strategy"])

    assert strategy(RolloutConfig()) == {"type": "Recreate"}
    rolling = RolloutConfig(strategy="RollingUpdate", max_surge=1, max_unavailable=0)
    assert strategy(rolling) == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
