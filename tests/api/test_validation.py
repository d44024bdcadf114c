"""Request validation: every field's type, default and bound, as readable 400 messages."""

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from services.api.requests import CreateModelRequest
from services.api.web.errors import describe
from services.api.web.examples import SEED_CREATE_REQUEST


def seed(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED_CREATE_REQUEST)
    for path, value in changes.items():
        target = body
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return body


def problem(body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        CreateModelRequest.model_validate(body)
    return describe(caught.value.errors())


def test_the_seed_request_is_valid_and_keeps_the_token_secret() -> None:
    request = CreateModelRequest.model_validate(SEED_CREATE_REQUEST)
    token = request.deployment_config.hugging_face_token
    assert token is not None
    assert token.get_secret_value() == "hf_your_token_here"
    assert "hf_your_token_here" not in repr(request)
    assert "hugging_face_token" not in request.deployment_config.spec().model_dump()


def test_defaults_are_the_seed_tables() -> None:
    body = {"name": "m", "deployment_config": {"image": "i", "command": ["vllm"], "args": []}}
    config = CreateModelRequest.model_validate(body).deployment_config
    assert (config.gpu_count, config.initial_delay_seconds, config.enable_pvc) == (None, 240, False)
    assert (config.storage_class, config.enable_autoscaling) == ("", False)
    autoscaling = config.effective_autoscaling
    assert (autoscaling.min_replicas, autoscaling.max_replicas) == (1, 10)
    assert autoscaling.target_metric == "num_requests_running"
    assert (autoscaling.target_value, autoscaling.scale_down_delay) == ("40", "3m")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"requirements__cpu": "lots"}, "requirements.cpu: 'lots' is not a Kubernetes quantity"),
        (
            {"requirements__memory": "16GB"},
            "requirements.memory: '16GB' is not a Kubernetes quantity",
        ),
        (
            {"requirements__gpu__min_vram": "-1Gi"},
            "requirements.gpu.min_vram: '-1Gi' must not be negative",
        ),
        ({"name": "Qwen_3"}, "name: 'Qwen_3' is not a DNS-1035 label"),
        (
            {"name": "3b-coder"},
            "name: '3b-coder' is not a DNS-1035 label: it must start with a lower-case letter, "
            "contain only lower-case letters, digits and '-', and end with a letter or digit",
        ),
        ({"name": "coder-"}, "name: 'coder-' is not a DNS-1035 label"),
        ({"name": "a" * 53}, "name: must be at most 52 characters, got 53"),
        ({"deployment_config__autoscaling_config__target_value": True}, "target_value:"),
        (
            {"deployment_config__autoscaling_config__min_replicas": 9},
            "autoscaling_config.min_replicas must be <=",
        ),
        (
            {"deployment_config__autoscaling_config__min_replicas": 0},
            "deployment_config.autoscaling_config.min_replicas:",
        ),
        (
            {"deployment_config__autoscaling_config__target_metric": "cpu"},
            "deployment_config.autoscaling_config.target_metric:",
        ),
        (
            {"deployment_config__autoscaling_config__scale_down_delay": "soon"},
            "'soon' is not a duration",
        ),
        ({"deployment_config__autoscaling_config__target_value": "0"}, "must be a positive number"),
        ({"deployment_config__gpu_count": -1}, "deployment_config.gpu_count:"),
        ({"deployment_config__gpu_count": "one"}, "deployment_config.gpu_count:"),
        (
            {"deployment_config__image_pull_policy": "Sometimes"},
            "deployment_config.image_pull_policy:",
        ),
        (
            {"deployment_config__extra_env": [{"name": "1BAD"}]},
            "deployment_config.extra_env[0].name:",
        ),
        ({"deployment_config__command": []}, "deployment_config.command:"),
        ({"deployment_config__surprise": True}, "deployment_config.surprise: unknown field"),
        ({"surprise": True}, "surprise: unknown field"),
        ({"tags": ["x"] * 33}, "tags:"),
        ({"is_public": "maybe"}, "is_public:"),
        ({"requirements__gpu__max_gpus": 0}, "gpu.max_gpus must be >= gpu.min_gpus"),
    ],
)
def test_each_invalid_field_is_named_in_the_message(changes: dict[str, Any], expected: str) -> None:
    assert expected in problem(seed(**changes))


def test_a_missing_required_field_is_named() -> None:
    body = seed()
    del body["deployment_config"]["image"]
    assert problem(body) == "deployment_config.image: field required"


def test_a_52_character_name_starting_with_a_letter_is_a_name() -> None:
    name = "q" + "3" * 50 + "b"
    assert CreateModelRequest.model_validate(seed(name=name)).name == name


def test_a_target_value_sent_as_a_number_is_stored_as_a_string() -> None:
    body = seed(deployment_config__autoscaling_config__target_value=40)
    config = CreateModelRequest.model_validate(body).deployment_config
    assert config.effective_autoscaling.target_value == "40"
    assert config.spec().model_dump(mode="json")["autoscaling_config"]["target_value"] == "40"


def test_secret_extra_env_entries_leave_the_spec_and_are_kept_apart() -> None:
    env = [
        {"name": "HF_TOKEN", "value": "hf_1"},
        {"name": "HUGGING_FACE_HUB_TOKEN", "value": "hf_2"},
        {"name": "OPENAI_API_KEY", "value": "k"},
        {"name": "S3_SECRET", "value": "s"},
        {"name": "DB_PASSWORD_FILE", "value": "p"},
        {"name": "CUDA_VISIBLE_DEVICES", "value": "0"},
        {"name": "KEYS_DIR", "value": "/k"},
    ]
    config = CreateModelRequest.model_validate(
        seed(deployment_config__extra_env=env)
    ).deployment_config
    assert [e.name for e in config.spec().extra_env] == ["CUDA_VISIBLE_DEVICES", "KEYS_DIR"]
    secret = {name: value.get_secret_value() for name, value in config.secret_env().items()}
    assert secret == {
        "HF_TOKEN": "hf_1",
        "HUGGING_FACE_HUB_TOKEN": "hf_2",
        "OPENAI_API_KEY": "k",
        "S3_SECRET": "s",
        "DB_PASSWORD_FILE": "p",
    }
