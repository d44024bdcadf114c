"""How many GPUs a model asks per replica, and what a node must offer to host one.

The api's admission and the deployer's Deployment both read these functions, so what is
checked is what is placed: a replica asks `gpus_per_replica` GPUs, each of at least
`per_gpu_memory_mib`, on a node whose product is `gpu_type` when one is given.
"""

import math

from shared.errors import InvalidRequestError
from shared.model_spec import DeploymentConfig, Requirements
from shared.quantity import MIB, parse_quantity


def gpus_per_replica(requirements: Requirements, config: DeploymentConfig) -> int:
    """`gpu_count` if given; else `min_gpus`; else 1 when `min_vram` is given; else 0.

    A `gpu_count` outside `min_gpus..max_gpus`, or 0 with a `min_vram`, is an
    `InvalidRequestError`: the model would be checked for one thing and run as another.
    """
    gpu = requirements.gpu
    if config.gpu_count is None:
        if gpu is None:
            return 0
        if gpu.min_gpus is not None:
            return gpu.min_gpus
        return 1 if gpu.min_vram is not None else 0
    if gpu is not None:
        if gpu.min_gpus is not None and config.gpu_count < gpu.min_gpus:
            raise InvalidRequestError(
                f"deployment_config.gpu_count: {config.gpu_count} is below "
                f"requirements.gpu.min_gpus ({gpu.min_gpus})"
            )
        if gpu.max_gpus is not None and config.gpu_count > gpu.max_gpus:
            raise InvalidRequestError(
                f"deployment_config.gpu_count: {config.gpu_count} is above "
                f"requirements.gpu.max_gpus ({gpu.max_gpus})"
            )
        if config.gpu_count == 0 and gpu.min_vram is not None:
            raise InvalidRequestError(
                "deployment_config.gpu_count: 0 GPUs cannot provide "
                f"requirements.gpu.min_vram ({gpu.min_vram}); ask for at least 1 GPU"
            )
    return config.gpu_count


def min_vram_bytes(requirements: Requirements) -> int:
    gpu = requirements.gpu
    return int(parse_quantity(gpu.min_vram)) if gpu is not None and gpu.min_vram else 0


def per_gpu_memory_mib(requirements: Requirements, gpus: int) -> int:
    """MiB each of the `gpus` GPUs must have: ceil(min_vram / gpus), 0 when nothing is asked."""
    vram = min_vram_bytes(requirements)
    if gpus <= 0 or vram <= 0:
        return 0
    return math.ceil(vram / (gpus * MIB))


def gpu_type(requirements: Requirements) -> str | None:
    gpu = requirements.gpu
    return gpu.gpu_type if gpu is not None and gpu.gpu_type else None


def most_replicas(config: DeploymentConfig) -> int:
    """The most replicas a model may run: `max_replicas` with autoscaling, else `replicas`."""
    if config.enable_autoscaling:
        return config.effective_autoscaling.max_replicas
    return config.replicas


def starting_replicas(config: DeploymentConfig) -> int:
    """The replicas a model starts with: `min_replicas` with autoscaling, else `replicas`."""
    if config.enable_autoscaling:
        return config.effective_autoscaling.min_replicas
    return config.replicas
