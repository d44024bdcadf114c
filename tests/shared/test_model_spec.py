import pytest
from pydantic import ValidationError

from shared.model_spec import (
    AutoscalingConfig,
    DeploymentConfig,
    GpuRequirements,
    Requirements,
    served_model_names,
)
from tests.shared.examples import SEED_ARGS


def test_the_seeds_sh_c_example_yields_its_served_name() -> None:
    assert served_model_names(["sh"], SEED_ARGS) == ["qwen3-coder-30b"]


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        (["python3", "-m", "vllm"], ["--served-model-name", "qwen3"], ["qwen3"]),
        (["python3"], ["--served-model-name=qwen3"], ["qwen3"]),
        (["/bin/bash"], ["-c", "vllm serve x --served-model-name 'qwen3' --port 8000"], ["qwen3"]),
        (["sh"], ["-c", 'vllm serve x --served-model-name="qwen3"'], ["qwen3"]),
        (["vllm"], ["serve", "x", "--served-model-name", "a", "b", "--port", "1"], ["a", "b"]),
        (["vllm"], ["serve", "x", "--served-model-name"], [""]),
        (["vllm"], ["serve", "x"], []),
        # `-c` is only a script after a shell: python's -c is not split
        (["python3"], ["-c", "print('--served-model-name x')"], []),
    ],
)
def test_served_model_names_are_read_as_a_shell_would(
    command: list[str], args: list[str], expected: list[str]
) -> None:
    assert served_model_names(command, args) == expected


def test_a_prefix_of_the_name_is_a_different_name() -> None:
    assert served_model_names(["vllm"], ["--served-model-name", "qwen"]) != ["qwen3"]


def test_the_seed_tables_defaults_apply() -> None:
    config = DeploymentConfig(image="vllm", command=["sh"], args=[])
    scaling = config.effective_autoscaling

    assert (config.gpu_count, config.initial_delay_seconds, config.enable_pvc) == (0, 240, False)
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
