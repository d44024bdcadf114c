"""Failures a caller can act on, with the seed's texts to the letter.

Each error is a value: the api maps its `kind` to one HTTP status in one place.
"""

from enum import StrEnum
from typing import Final

from shared.crds import RequiredCrd
from shared.quantity import format_binary

NOT_IN_CLUSTER_MESSAGE: Final = "models API only available when running in Kubernetes cluster"


class ErrorKind(StrEnum):
    INVALID = "invalid"
    UNAUTHENTICATED = "unauthenticated"
    UNAVAILABLE = "unavailable"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INSUFFICIENT_RESOURCES = "insufficient_resources"
    DEPENDENCY_DOWN = "dependency_down"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    PRECONDITION_FAILED = "precondition_failed"


class JanModelsError(Exception):
    kind: ErrorKind = ErrorKind.INVALID
    retry_after_seconds: int | None = None
    """Sent as `Retry-After` when set: the caller may simply try again then."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(JanModelsError):
    kind = ErrorKind.INVALID


class ServedModelNameMismatchError(InvalidRequestError):
    def __init__(self, *, served_name: str, model_name: str) -> None:
        super().__init__(
            f"--served-model-name '{served_name}' must match model name '{model_name}' "
            "(required by Aibrix for autoscaling)"
        )


class ServedModelNameNotLiteralError(InvalidRequestError):
    def __init__(self, *, served_name: str, model_name: str) -> None:
        super().__init__(
            f"--served-model-name '{served_name}' is not a literal name: the shell or Kubernetes "
            f"would build it when the container starts; write '{model_name}' itself "
            "(required by Aibrix for autoscaling)"
        )


class ServedModelNameMissingError(InvalidRequestError):
    def __init__(self, *, model_name: str) -> None:
        super().__init__(
            f"--served-model-name '{model_name}' is required in deployment_config.args "
            "when enable_autoscaling is true (required by Aibrix for autoscaling)"
        )


class UnauthenticatedError(JanModelsError):
    kind = ErrorKind.UNAUTHENTICATED

    def __init__(self, message: str = "missing or invalid API key") -> None:
        super().__init__(message)


class NotInClusterError(JanModelsError):
    kind = ErrorKind.UNAVAILABLE

    def __init__(self) -> None:
        super().__init__(NOT_IN_CLUSTER_MESSAGE)


class CrdMissingError(JanModelsError):
    kind = ErrorKind.UNAVAILABLE

    def __init__(self, crd: RequiredCrd) -> None:
        super().__init__(crd.missing_message)
        self.crd = crd


class InsufficientResourcesError(JanModelsError):
    kind = ErrorKind.INSUFFICIENT_RESOURCES

    def __init__(self, *, min_gpus: int, min_vram_bytes: int) -> None:
        super().__init__(
            insufficient_resources_message(min_gpus=min_gpus, min_vram_bytes=min_vram_bytes)
        )


def insufficient_resources_message(*, min_gpus: int, min_vram_bytes: int) -> str:
    """`no GPU node can satisfy the requirements: min 2 GPUs with 48Gi VRAM` (the seed's text)."""
    vram = format_binary(min_vram_bytes) if min_vram_bytes else "0Gi"
    return f"no GPU node can satisfy the requirements: min {min_gpus} GPUs with {vram} VRAM"


class GpuQuotaExceededError(JanModelsError):
    kind = ErrorKind.QUOTA_EXCEEDED

    def __init__(self, *, organization_id: int, requested: int, used: int, limit: int) -> None:
        super().__init__(
            f"GPU quota exceeded for organization {organization_id}: "
            f"{requested} requested, {used} of {limit} in use"
        )


class ModelNotFoundError(JanModelsError):
    kind = ErrorKind.NOT_FOUND

    def __init__(self, model_id: str) -> None:
        super().__init__(f"model '{model_id}' not found")


class ModelNameTakenError(JanModelsError):
    kind = ErrorKind.CONFLICT

    def __init__(self, *, name: str, namespace: str) -> None:
        super().__init__(f"a model named '{name}' already exists in namespace '{namespace}'")


class NameImmutableError(InvalidRequestError):
    def __init__(self) -> None:
        super().__init__("name cannot be changed")


class NotInPlaceError(InvalidRequestError):
    """A change the cluster cannot make to a running model (a PVC's class, a smaller PVC)."""


class ModelBeingDeletedError(JanModelsError):
    kind = ErrorKind.CONFLICT

    def __init__(self) -> None:
        super().__init__("model is being deleted")


class GenerationMismatchError(JanModelsError):
    """`If-Match` named another generation than the model's."""

    kind = ErrorKind.PRECONDITION_FAILED

    def __init__(self, *, generation: int) -> None:
        super().__init__(f"model changed: its generation is now {generation}")


def not_ours_message(*, kind: str, namespace: str, name: str) -> str:
    """`Service jan-models/NAME already exists and is not managed by jan-models`."""
    return f"{kind} {namespace}/{name} already exists and is not managed by jan-models"


class ObjectNotOursError(JanModelsError):
    """An object the model would own exists already without the model's id label: someone
    else's, never modified or deleted."""

    kind = ErrorKind.CONFLICT

    def __init__(self, *, object_kind: str, namespace: str, name: str) -> None:
        super().__init__(not_ours_message(kind=object_kind, namespace=namespace, name=name))


INVENTORY_UNAVAILABLE_MESSAGE: Final = "cluster inventory unavailable, retry shortly"


class InventoryUnavailableError(JanModelsError):
    """A temporary outage: the inventory does not answer or has not synced yet.
    The caller sees one text; `detail` says which, for the logs."""

    kind = ErrorKind.DEPENDENCY_DOWN
    retry_after_seconds = 2

    def __init__(self, detail: str = "no answer in time") -> None:
        super().__init__(INVENTORY_UNAVAILABLE_MESSAGE)
        self.detail = detail


class HistoryUnavailableError(JanModelsError):
    """MODEL_EVENTS did not answer a read of a model's history in time."""

    kind = ErrorKind.DEPENDENCY_DOWN
    retry_after_seconds = 1

    def __init__(self, detail: str) -> None:
        super().__init__("event history unavailable, retry shortly")
        self.detail = detail


class AdmissionBusyError(JanModelsError):
    """Admissions kept conflicting (a dead api's transaction not yet reaped): try again."""

    kind = ErrorKind.DEPENDENCY_DOWN
    retry_after_seconds = 2

    def __init__(self) -> None:
        super().__init__("GPU admission busy, retry shortly")


class RateLimitedError(JanModelsError):
    kind = ErrorKind.RATE_LIMITED

    def __init__(self, *, retry_after_seconds: int) -> None:
        super().__init__(f"too many requests: retry in {retry_after_seconds}s")
        self.retry_after_seconds: int | None = retry_after_seconds
