import pytest
from pydantic import ValidationError

from shared.model_spec import (
    AutoscalingConfig,
    DeploymentConfig,
    GpuRequirements,
    Requirements,
)


def test_the_seed_tables_defaults_apply() -> None:
    config = DeploymentConfig(image="vllm", command=["sh"], args=[])
    scaling = config.effective_autoscaling

    assert (config.gpu_count, config.initial_delay_seconds, config.enable_pvc) == (None, 240, False)
    assert (config.storage_class, config.enable_autoscaling) == ("", False)
    assert (scaling.min_replicas, scaling.max_replicas) == (1, 10)
    assert (scaling.target_metric, scaling.target_value, scaling.scale_down_delay) == (
        "num_requests_running",
        "40",
        "3m",
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: Requirements(cpu="lots"),
        lambda: Requirements(memory="-1Gi"),
        lambda: GpuRequirements(min_gpus=2, max_gpus=1),
        lambda: AutoscalingConfig(min_replicas=5, max_replicas=2),
        lambda: AutoscalingConfig(min_replicas=0),
        lambda: AutoscalingConfig(target_metric="cpu_percent"),  # type: ignore[arg-type]
        lambda: AutoscalingConfig(target_value="forty"),
        lambda: AutoscalingConfig(scale_down_delay="soon"),
        lambda: DeploymentConfig(image="vllm", command=[], args=[]),
        lambda: DeploymentConfig(image="vllm", command=["sh"], args=[], surprise=1),  # type: ignore[call-arg]
    ],
)
def test_invalid_specs_are_rejected(build: object) -> None:
    with pytest.raises(ValidationError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(("given", "stored"), [(40, "40"), (0.5, "0.5"), ("12", "12")])
def test_a_target_value_given_as_a_number_is_stored_as_the_string_aibrix_reads(
    given: object, stored: str
) -> None:
    assert AutoscalingConfig(target_value=given).target_value == stored  # type: ignore[arg-type]


@pytest.mark.parametrize("given", [True, 0, -3, "nan"])
def test_a_target_value_must_be_a_positive_number(given: object) -> None:
    with pytest.raises(ValidationError):
        AutoscalingConfig(target_value=given)  # type: ignore[arg-type]
