"""The `--served-model-name` rule reads argv as a shell would and matches the name exactly."""

import pytest

from services.api.rules import check_served_model_name
from shared.errors import (
    ServedModelNameMismatchError,
    ServedModelNameMissingError,
    ServedModelNameNotLiteralError,
)
from shared.model_spec import DeploymentConfig
from tests.shared.examples import SEED_ARGS


def config(*, command: list[str], args: list[str], autoscaling: bool = True) -> DeploymentConfig:
    return DeploymentConfig(
        image="vllm/vllm-openai:v0.10.2", command=command, args=args, enable_autoscaling=autoscaling
    )


def test_the_seed_sh_c_example_passes() -> None:
    check_served_model_name(name="qwen3-coder-30b", config=config(command=["sh"], args=SEED_ARGS))


def test_the_seed_args_alone_example_is_read() -> None:
    args = ["python3 -m vllm.entrypoints.openai.api_server --served-model-name qwen3-coder-30b ..."]
    check_served_model_name(name="qwen3-coder-30b", config=config(command=["sh", "-c"], args=args))


def test_a_prefix_of_the_name_is_a_mismatch_with_the_seed_text() -> None:
    args = ["-c", "vllm serve m --served-model-name qwen"]
    with pytest.raises(ServedModelNameMismatchError) as caught:
        check_served_model_name(name="qwen3", config=config(command=["sh"], args=args))
    assert caught.value.message == (
        "--served-model-name 'qwen' must match model name 'qwen3' (required by Aibrix for autoscaling)"
    )


def test_a_longer_name_containing_the_model_name_is_a_mismatch() -> None:
    args = ["--served-model-name", "qwen3-coder-30b-v2"]
    with pytest.raises(ServedModelNameMismatchError):
        check_served_model_name(
            name="qwen3-coder-30b", config=config(command=["vllm", "serve"], args=args)
        )


def test_the_seed_error_text_for_wrong_name() -> None:
    args = [
        "-c",
        SEED_ARGS[1].replace(
            "--served-model-name qwen3-coder-30b", "--served-model-name wrong-name"
        ),
    ]
    with pytest.raises(ServedModelNameMismatchError) as caught:
        check_served_model_name(name="qwen3-coder-30b", config=config(command=["sh"], args=args))
    assert caught.value.message == (
        "--served-model-name 'wrong-name' must match model name 'qwen3-coder-30b' "
        "(required by Aibrix for autoscaling)"
    )


def test_missing_flag_is_refused_only_with_autoscaling() -> None:
    args = ["-c", "vllm serve some/model --port 8000"]
    with pytest.raises(ServedModelNameMissingError):
        check_served_model_name(name="m", config=config(command=["sh"], args=args))
    check_served_model_name(name="m", config=config(command=["sh"], args=args, autoscaling=False))


def test_a_mismatch_is_refused_without_autoscaling_too() -> None:
    args = ["--served-model-name", "other"]
    with pytest.raises(ServedModelNameMismatchError):
        check_served_model_name(
            name="m", config=config(command=["vllm"], args=args, autoscaling=False)
        )


def test_the_last_of_a_repeated_flag_decides_as_argparse_does() -> None:
    args = ["--served-model-name", "m", "--served-model-name", "other"]
    with pytest.raises(ServedModelNameMismatchError) as caught:
        check_served_model_name(name="m", config=config(command=["vllm"], args=args))
    assert "'other'" in caught.value.message
    check_served_model_name(name="m", config=config(command=["vllm"], args=[*args[2:], *args[:2]]))


def test_a_shell_operator_ends_the_name() -> None:
    args = ["-c", "vllm serve m --served-model-name qwen3-coder-30b; sleep 1"]
    check_served_model_name(name="qwen3-coder-30b", config=config(command=["bash"], args=args))


def test_a_name_the_shell_builds_is_refused_and_the_text_says_why() -> None:
    args = ["-lc", 'vllm serve m --served-model-name "$NAME"']
    with pytest.raises(ServedModelNameNotLiteralError) as caught:
        check_served_model_name(name="m", config=config(command=["bash"], args=args))
    assert caught.value.message.startswith("--served-model-name '$NAME' is not a literal name")


def test_every_command_that_serves_must_serve_the_name() -> None:
    args = ["-c", "vllm --served-model-name m & vllm --served-model-name other"]
    with pytest.raises(ServedModelNameMismatchError):
        check_served_model_name(name="m", config=config(command=["sh"], args=args))
