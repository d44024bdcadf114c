"""Rules across fields of a create request, beyond what each field checks by itself."""

from shared.errors import (
    InvalidRequestError,
    ServedModelNameMismatchError,
    ServedModelNameMissingError,
)
from shared.model_spec import DeploymentConfig, Requirements, served_model_names


def check_served_model_name(*, name: str, config: DeploymentConfig) -> None:
    """Aibrix routes by name: vLLM's first `--served-model-name` must be the model name.

    The flag is required when autoscaling is on; when present it must match exactly
    (`qwen` is not `qwen3`), whether or not autoscaling is on.
    """
    names = served_model_names(config.command, config.args)
    if not names:
        if config.enable_autoscaling:
            raise ServedModelNameMissingError(model_name=name)
        return
    if names[0] != name:
        raise ServedModelNameMismatchError(served_name=names[0], model_name=name)


def check_gpu_count(*, requirements: Requirements, config: DeploymentConfig) -> None:
    """`gpu_count` lies within `min_gpus..max_gpus`, for the bounds the caller gave."""
    gpu = requirements.gpu
    if gpu is None:
        return
    given_min = "min_gpus" in gpu.model_fields_set
    if given_min and config.gpu_count < gpu.min_gpus:
        raise InvalidRequestError(
            f"deployment_config.gpu_count: {config.gpu_count} is below "
            f"requirements.gpu.min_gpus ({gpu.min_gpus})"
        )
    if gpu.max_gpus is not None and config.gpu_count > gpu.max_gpus:
        raise InvalidRequestError(
            f"deployment_config.gpu_count: {config.gpu_count} is above "
            f"requirements.gpu.max_gpus ({gpu.max_gpus})"
        )


def gpus_requested(*, requirements: Requirements, config: DeploymentConfig) -> int:
    """How many GPUs one replica needs (0 when none): the most either field asks for."""
    from_requirements = requirements.gpu.min_gpus if requirements.gpu is not None else 0
    return max(config.gpu_count, from_requirements)
