"""Request validation: every field's type, default and bound, as readable 400 messages."""

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from services.api.requests import CreateModelRequest
from services.api.rules import check_gpu_count
from services.api.web.errors import describe
from services.api.web.examples import SEED_CREATE_REQUEST
from shared.errors import InvalidRequestError


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
    assert (config.gpu_count, config.initial_delay_seconds, config.enable_pvc) == (0, 240, False)
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
        ({"name": "Qwen_3"}, "name: must be a DNS-1123 label"),
        ({"name": "a" * 53}, "name: must be a DNS-1123 label"),
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


def test_gpu_count_must_lie_within_the_requested_bounds() -> None:
    request = CreateModelRequest.model_validate(seed(deployment_config__gpu_count=2))
    with pytest.raises(InvalidRequestError, match=r"requirements\.gpu\.max_gpus"):
        check_gpu_count(requirements=request.requirements, config=request.deployment_config)
    body = seed(deployment_config__gpu_count=0)
    request = CreateModelRequest.model_validate(body)
    with pytest.raises(InvalidRequestError, match=r"requirements\.gpu\.min_gpus"):
        check_gpu_count(requirements=request.requirements, config=request.deployment_config)


def test_gpu_count_bounds_only_apply_when_given() -> None:
    body = seed(requirements={"cpu": "1"}, deployment_config__gpu_count=4)
    request = CreateModelRequest.model_validate(body)
    check_gpu_count(requirements=request.requirements, config=request.deployment_config)
