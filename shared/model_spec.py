"""The desired state of a model as the user writes it (the seed's create request).

These are the parts the deployer needs to build manifests as well as the api to validate
a request, so they live here once. The api adds the Hugging Face token to its request
model; the token never appears in these types.
"""

import re
import shlex
from decimal import Decimal
from itertools import takewhile
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.quantity import is_quantity, parse_quantity

DNS1123_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ENV_NAME: Final = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
DURATION: Final = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:h|m|s|ms))+$")
MAX_NAME_LENGTH: Final = 52  # room for the `-hf-token` and `-cache` suffixes in 63
AibrixPodMetric = Literal[
    "num_requests_running",
    "num_requests_waiting",
    "num_requests_swapped",
    "gpu_cache_usage_perc",
    "cpu_cache_usage_perc",
    "avg_prompt_throughput_toks_per_s",
    "avg_generation_throughput_toks_per_s",
    "generation_tokens_total",
    "prompt_tokens_total",
    "e2e_request_latency_seconds",
    "time_to_first_token_seconds",
    "time_per_output_token_seconds",
]
"""The vLLM pod metrics Aibrix's KPA can scale on."""


def _dns_label(value: str) -> str:
    if len(value) > MAX_NAME_LENGTH or not DNS1123_LABEL.match(value):
        raise ValueError(
            "must be a DNS-1123 label: lower-case letters, digits and '-', "
            f"starting and ending with a letter or digit, at most {MAX_NAME_LENGTH} characters"
        )
    return value


def _quantity(value: str) -> str:
    if not is_quantity(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 2000m, 16Gi)")
    if parse_quantity(value) < 0:
        raise ValueError(f"{value!r} must not be negative")
    return value


def _duration(value: str) -> str:
    if not DURATION.match(value):
        raise ValueError(f"{value!r} is not a duration (e.g. 30s, 3m, 1h30m)")
    return value


def _positive_number_text(value: str) -> str:
    try:
        number = Decimal(value)
    except ArithmeticError:
        number = Decimal(-1)
    if not number.is_finite() or number <= 0:
        raise ValueError(f'{value!r} must be a positive number written as a string, e.g. "40"')
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Quantity = Annotated[str, Field(max_length=32), AfterValidator(_quantity)]
Duration = Annotated[str, Field(max_length=32), AfterValidator(_duration)]
ShortText = Annotated[str, Field(max_length=256)]
Arg = Annotated[str, Field(max_length=8192)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GpuRequirements(Strict):
    min_vram: Quantity | None = Field(default=None, examples=["24Gi"])
    min_gpus: int = Field(default=1, ge=0, le=64, examples=[1])
    max_gpus: int | None = Field(default=None, ge=0, le=64, examples=[1])
    gpu_type: ShortText | None = Field(
        default=None,
        description="GPU product as the GPU Operator labels nodes (nvidia.com/gpu.product)",
        examples=["NVIDIA-A100-SXM4-40GB"],
    )

    @model_validator(mode="after")
    def _max_not_below_min(self) -> "GpuRequirements":
        if self.max_gpus is not None and self.max_gpus < self.min_gpus:
            raise ValueError("gpu.max_gpus must be >= gpu.min_gpus")
        return self


class Requirements(Strict):
    cpu: Quantity | None = Field(default=None, examples=["2000m"])
    memory: Quantity | None = Field(default=None, examples=["16Gi"])
    gpu: GpuRequirements | None = None


class EnvVar(Strict):
    name: Annotated[str, Field(min_length=1, max_length=256, pattern=ENV_NAME.pattern)]
    value: Annotated[str, Field(max_length=32768)] = ""


class AutoscalingConfig(Strict):
    min_replicas: int = Field(default=1, ge=1, le=1000)
    max_replicas: int = Field(default=10, ge=1, le=1000)
    target_metric: AibrixPodMetric = "num_requests_running"
    target_value: Annotated[str, Field(max_length=32), AfterValidator(_positive_number_text)] = "40"
    scale_down_delay: Duration = "3m"

    @model_validator(mode="after")
    def _min_not_above_max(self) -> "AutoscalingConfig":
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                "autoscaling_config.min_replicas must be <= autoscaling_config.max_replicas"
            )
        return self


class DeploymentConfig(Strict):
    """How to run the model server; the seed's "Model Deployment Parameters" table."""

    image: Annotated[str, Field(min_length=1, max_length=512)]
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    command: Annotated[list[Arg], Field(min_length=1, max_length=64)]
    args: Annotated[list[Arg], Field(max_length=256)]
    gpu_count: int = Field(default=0, ge=0, le=64)
    initial_delay_seconds: int = Field(default=240, ge=0, le=86_400)
    enable_pvc: bool = False
    storage_class: Annotated[str, Field(max_length=253)] = ""
    pvc_size: Quantity = "100Gi"
    enable_autoscaling: bool = False
    autoscaling_config: AutoscalingConfig | None = None
    extra_env: Annotated[list[EnvVar], Field(max_length=128)] = []
    replicas: int = Field(default=1, ge=0, le=1000)

    @property
    def effective_autoscaling(self) -> AutoscalingConfig:
        return self.autoscaling_config or AutoscalingConfig()


def served_model_names(command: list[str], args: list[str]) -> list[str]:
    """Every `--served-model-name` value in the container's argv, read as a shell would.

    The seed's example is `command: ["sh"], args: ["-c", "python3 -m vllm ... --served-model-name x"]`,
    so a `-c` script is split with shell rules before looking; the flag may be written
    `--served-model-name x` or `--served-model-name=x` and its value may be quoted.
    vLLM accepts several names after the flag; all of them are returned.
    """
    argv = [*command, *args]
    words: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "-c" and index + 1 < len(argv) and _is_shell(argv[:index]):
            try:
                words.extend(shlex.split(argv[index + 1]))
            except ValueError:
                words.extend(argv[index + 1].split())
            index += 2
            continue
        words.append(word)
        index += 1
    names: list[str] = []
    for position, word in enumerate(words):
        if word.startswith("--served-model-name="):
            names.append(word.split("=", 1)[1])
        elif word == "--served-model-name":
            values = takewhile(lambda value: not value.startswith("-"), words[position + 1 :])
            names.extend(list(values) or [""])
    return names


def _is_shell(prefix: list[str]) -> bool:
    shells = {"sh", "bash", "dash", "zsh", "ash"}
    return any(word.rsplit("/", 1)[-1] in shells for word in prefix)
