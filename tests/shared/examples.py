"""The seed's own create example, as shared contract objects."""

from shared.commands import CreateModel, DeleteModel, ModelRef
from shared.model_spec import (
    AutoscalingConfig,
    DeploymentConfig,
    EnvVar,
    GpuRequirements,
    Requirements,
)

SEED_ARGS = [
    "-c",
    "python3 -m vllm.entrypoints.openai.api_server --host 0.0.0.0 --port 8000 "
    "--uvicorn-log-level warning --model Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8 "
    "--served-model-name qwen3-coder-30b --tool-call-parser qwen3_coder "
    "--enable-auto-tool-choice --api-server-count 4",
]

SEED_REF = ModelRef(
    organization_id=123,
    model_id=1,
    public_id="mdl_abc123def456",
    name="qwen3-coder-30b",
    generation=1,
)


def seed_create_command() -> CreateModel:
    return CreateModel(
        **SEED_REF.model_dump(),
        huggingface_id="Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8",
        requirements=Requirements(
            cpu="2000m", memory="16Gi", gpu=GpuRequirements(min_vram="24Gi", min_gpus=1, max_gpus=1)
        ),
        deployment_config=DeploymentConfig(
            image="registry.menlo.ai/dockerhub/vllm/vllm-openai:v0.10.2",
            image_pull_policy="IfNotPresent",
            command=["sh"],
            args=SEED_ARGS,
            gpu_count=1,
            initial_delay_seconds=240,
            enable_pvc=True,
            storage_class="",
            enable_autoscaling=True,
            autoscaling_config=AutoscalingConfig(
                min_replicas=1,
                max_replicas=8,
                target_metric="num_requests_running",
                target_value="40",
                scale_down_delay="3m",
            ),
            extra_env=[EnvVar(name="CUDA_VISIBLE_DEVICES", value="0")],
        ),
        hf_token_encrypted="gAAAAA-not-a-real-fernet-token",
    )


def seed_delete_command() -> DeleteModel:
    return DeleteModel(**SEED_REF.model_dump())
