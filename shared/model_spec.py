"""The desired state of a model as the user writes it (the seed's create request).

These are the parts the deployer needs to build manifests as well as the api to validate
a request, so they live here once. The api adds the Hugging Face token to its request
model; the token never appears in these types.
"""

import re
from decimal import Decimal
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from shared.quantity import NON_NEGATIVE_PATTERN, is_quantity, parse_quantity

DNS1123_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL: Final = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
ENV_NAME: Final = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
DURATION: Final = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:h|m|s|ms))+$")
DECIMAL: Final = re.compile(r"^\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
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
    if len(value) > MAX_NAME_LENGTH or not DNS1123_LABEL.fullmatch(value):
        raise ValueError(
            "must be a DNS-1123 label: lower-case letters, digits and '-', "
            f"starting and ending with a letter or digit, at most {MAX_NAME_LENGTH} characters"
        )
    return value


def _model_name(value: str) -> str:
    """A Service name is a DNS-1035 label; `NAME-hf-token` must still fit in 63 characters."""
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"must be at most {MAX_NAME_LENGTH} characters, got {len(value)}")
    if not DNS1035_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a DNS-1035 label: it must start with a lower-case letter, "
            "contain only lower-case letters, digits and '-', and end with a letter or digit"
        )
    return value


def _quantity(value: str) -> str:
    if not is_quantity(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 2000m, 16Gi)")
    if value.startswith("-") or parse_quantity(value) < 0:
        raise ValueError(f"{value!r} must not be negative")
    return value


def _duration(value: str) -> str:
    if not DURATION.fullmatch(value):
        raise ValueError(f"{value!r} is not a duration (e.g. 30s, 3m, 1h30m)")
    return value


def _number_as_text(value: object) -> object:
    """The PodAutoscaler wants a string; a JSON number is taken as the string it reads as."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _positive_number_text(value: str) -> str:
    try:
        number = Decimal(value) if DECIMAL.fullmatch(value) else Decimal(-1)
    except ArithmeticError:
        number = Decimal(-1)
    if not number.is_finite() or number <= 0:
        raise ValueError(f'{value!r} must be a positive number written as a string, e.g. "40"')
    return value


# The rules the validators enforce with their own messages, stated again for JSON Schema.
DnsLabel = Annotated[
    str,
    AfterValidator(_dns_label),
    Field(
        json_schema_extra={
            "pattern": DNS1123_LABEL.pattern,
            "minLength": 1,
            "maxLength": MAX_NAME_LENGTH,
        }
    ),
]
ModelName = Annotated[
    str,
    AfterValidator(_model_name),
    Field(
        json_schema_extra={
            "pattern": DNS1035_LABEL.pattern,
            "minLength": 1,
            "maxLength": MAX_NAME_LENGTH,
        }
    ),
]
Quantity = Annotated[
    str,
    Field(max_length=32, json_schema_extra={"pattern": NON_NEGATIVE_PATTERN}),
    AfterValidator(_quantity),
]
Duration = Annotated[
    str,
    Field(max_length=32, json_schema_extra={"pattern": DURATION.pattern}),
    AfterValidator(_duration),
]
ShortText = Annotated[str, Field(max_length=256)]
Arg = Annotated[str, Field(max_length=8192)]


class Strict(BaseModel):
    """No unknown field, and no coercion: `"true"` is not a boolean nor `"5"` a number, as
    the JSON Schema these models publish says."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class GpuRequirements(Strict):
    min_vram: Quantity | None = Field(default=None, examples=["24Gi"])
    min_gpus: int | None = Field(default=None, ge=0, le=64, examples=[1])
    max_gpus: int | None = Field(default=None, ge=0, le=64, examples=[1])
    gpu_type: ShortText | None = Field(
        default=None,
        description="GPU product as the GPU Operator labels nodes (nvidia.com/gpu.product)",
        examples=["NVIDIA-A100-SXM4-40GB"],
    )

    @model_validator(mode="after")
    def _max_not_below_min(self) -> "GpuRequirements":
        if self.max_gpus is not None and self.max_gpus < (self.min_gpus or 0):
            raise ValueError("gpu.max_gpus must be >= gpu.min_gpus")
        return self


class Requirements(Strict):
    cpu: Quantity | None = Field(default=None, examples=["2000m"])
    memory: Quantity | None = Field(default=None, examples=["16Gi"])
    gpu: GpuRequirements | None = None


SECRET_ENV_NAMES: Final = frozenset({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"})
SECRET_ENV_SUFFIXES: Final = ("_TOKEN", "_KEY", "_SECRET")


def is_secret_env_name(name: str) -> bool:
    """these `extra_env` entries are handled like `hugging_face_token`."""
    upper = name.upper()
    return upper in SECRET_ENV_NAMES or upper.endswith(SECRET_ENV_SUFFIXES) or "PASSWORD" in upper


class EnvVar(Strict):
    name: Annotated[str, Field(min_length=1, max_length=256, pattern=ENV_NAME.pattern)]
    value: Annotated[str, Field(max_length=32768)] = ""


class AutoscalingConfig(Strict):
    min_replicas: int = Field(default=1, ge=1, le=1000)
    max_replicas: int = Field(default=10, ge=1, le=1000)
    target_metric: AibrixPodMetric = "num_requests_running"
    target_value: Annotated[
        str,
        BeforeValidator(_number_as_text),
        Field(max_length=32, description="A positive number, as a string (a number is taken)"),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "maxLength": 32, "pattern": DECIMAL.pattern},
                    {"type": "number", "exclusiveMinimum": 0},
                ]
            },
            mode="validation",
        ),
        AfterValidator(_positive_number_text),
    ] = "40"
    scale_down_delay: Duration = "3m"

    @model_validator(mode="after")
    def _min_not_above_max(self) -> "AutoscalingConfig":
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                "autoscaling_config.min_replicas must be <= autoscaling_config.max_replicas"
            )
        return self


class RolloutConfig(Strict):
    """How a new generation replaces the pods of the last one.

    `Recreate` (the default) stops the old pods before the new ones start: a GPU model
    rarely has a spare GPU for a second copy. `RollingUpdate` keeps old pods serving:
    `max_surge` 1 starts one extra pod first (it needs GPUs of its own), `max_unavailable`
    1 lets one old pod go first (no extra GPU). Both 0 is what Kubernetes refuses."""

    strategy: Literal["Recreate", "RollingUpdate"] = "Recreate"
    # 0 or 1 as integers (a Literal would take `true` for 1)
    max_surge: int = Field(default=0, ge=0, le=1)
    max_unavailable: int = Field(default=1, ge=0, le=1)

    @model_validator(mode="after")
    def _some_room(self) -> "RolloutConfig":
        if self.strategy == "RollingUpdate" and self.max_surge == 0 == self.max_unavailable:
            raise ValueError(
                "rollout: max_surge and max_unavailable cannot both be 0 "
                "(the rollout could never replace a pod)"
            )
        if self.strategy == "Recreate" and self.max_surge:
            raise ValueError("rollout: max_surge applies to RollingUpdate only")
        return self

    @property
    def surge(self) -> int:
        """Extra pods a rollout runs beside the old ones."""
        return self.max_surge if self.strategy == "RollingUpdate" else 0


class DeploymentConfig(Strict):
    """How to run the model server; the seed's "Model Deployment Parameters" table."""

    image: Annotated[str, Field(min_length=1, max_length=512)]
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    command: Annotated[list[Arg], Field(min_length=1, max_length=64)]
    args: Annotated[list[Arg], Field(max_length=256)]
    gpu_count: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="GPUs per replica; when left out, decided by requirements.gpu",
    )
    initial_delay_seconds: int = Field(default=240, ge=0, le=86_400)
    enable_pvc: bool = False
    storage_class: Annotated[str, Field(max_length=253)] = ""
    pvc_size: Quantity = "100Gi"
    enable_autoscaling: bool = False
    autoscaling_config: AutoscalingConfig | None = None
    extra_env: Annotated[list[EnvVar], Field(max_length=128)] = []
    replicas: int = Field(default=1, ge=0, le=1000, description="Replicas when autoscaling is off")
    rollout: RolloutConfig = RolloutConfig()

    @property
    def effective_autoscaling(self) -> AutoscalingConfig:
        return self.autoscaling_config or AutoscalingConfig()
