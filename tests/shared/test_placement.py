"""The GPU ask per replica and what a node must offer for it."""

from typing import Any

import pytest

from shared.errors import InvalidRequestError
from shared.model_spec import DeploymentConfig, GpuRequirements, Requirements
from shared.placement import (
    gpus_per_replica,
    most_replicas,
    per_gpu_memory_mib,
    starting_replicas,
)


def config(**fields: Any) -> DeploymentConfig:
    return DeploymentConfig(image="vllm", command=["vllm"], args=[], **fields)


def gpu(**fields: Any) -> Requirements:
    return Requirements(gpu=GpuRequirements(**fields))


@pytest.mark.parametrize(
    ("requirements", "deployment", "asked"),
    [
        (Requirements(), config(), 0),
        (Requirements(), config(gpu_count=2), 2),
        (gpu(min_vram="24Gi"), config(), 1),  # the GPU-less pod of issue 15 now asks one
        (gpu(min_gpus=2, min_vram="48Gi"), config(), 2),
        (gpu(min_gpus=0), config(), 0),
        (gpu(gpu_type="NVIDIA-H100-80GB-HBM3"), config(), 0),
        (gpu(min_gpus=1, max_gpus=4), config(gpu_count=3), 3),
        (gpu(min_vram="24Gi"), config(gpu_count=2), 2),
        (gpu(max_gpus=2), config(gpu_count=0), 0),
    ],
)
def test_the_ask_is_gpu_count_then_min_gpus_then_one_for_min_vram(
    requirements: Requirements, deployment: DeploymentConfig, asked: int
) -> None:
    assert gpus_per_replica(requirements, deployment) == asked


@pytest.mark.parametrize(
    ("requirements", "deployment", "message"),
    [
        (
            gpu(min_gpus=2),
            config(gpu_count=1),
            "deployment_config.gpu_count: 1 is below requirements.gpu.min_gpus (2)",
        ),
        (
            gpu(min_gpus=1, max_gpus=1),
            config(gpu_count=2),
            "deployment_config.gpu_count: 2 is above requirements.gpu.max_gpus (1)",
        ),
        (
            gpu(min_vram="24Gi"),
            config(gpu_count=0),
            "deployment_config.gpu_count: 0 GPUs cannot provide requirements.gpu.min_vram (24Gi)",
        ),
    ],
)
def test_an_ask_that_contradicts_the_requirements_is_refused_with_a_clear_text(
    requirements: Requirements, deployment: DeploymentConfig, message: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        gpus_per_replica(requirements, deployment)
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(
    ("min_vram", "gpus", "mib"),
    [("40Gi", 1, 40960), ("48Gi", 2, 24576), ("10Gi", 3, 3414), ("1", 1, 1), (None, 1, 0)],
)
def test_per_gpu_memory_is_min_vram_over_the_ask_rounded_up(
    min_vram: str | None, gpus: int, mib: int
) -> None:
    assert per_gpu_memory_mib(gpu(min_vram=min_vram), gpus) == mib


def test_quota_counts_the_most_replicas_and_plans_the_starting_ones() -> None:
    fixed = config(replicas=3)
    scaled = config(
        enable_autoscaling=True, autoscaling_config={"min_replicas": 2, "max_replicas": 5}
    )
    assert (most_replicas(fixed), starting_replicas(fixed)) == (3, 3)
    assert (most_replicas(scaled), starting_replicas(scaled)) == (5, 2)
