"""Names and metadata every manifest of one model shares."""

from typing import Any, Final

from shared.commands import ModelRef
from shared.labels import MODEL_ID, MODEL_NAME, model_annotations, model_labels
from shared.objects import cache_claim_name, secret_name

__all__ = ["HF_TOKEN_KEY", "Manifest", "cache_claim_name", "header", "metadata", "secret_name"]

Manifest = dict[str, Any]

HF_TOKEN_KEY: Final = "token"  # noqa: S105  # the key inside the Secret


def labels(ref: ModelRef) -> dict[str, str]:
    return model_labels(name=ref.name, organization_id=ref.organization_id, public_id=ref.public_id)


def pod_selector(ref: ModelRef) -> dict[str, str]:
    """The stable subset of the labels that selects the model's pods (a selector is immutable)."""
    return {MODEL_NAME: ref.name, MODEL_ID: ref.public_id}


def metadata(
    ref: ModelRef, *, name: str | None = None, extra_annotations: dict[str, str] | None = None
) -> Manifest:
    annotations = model_annotations(model_id=ref.model_id, generation=ref.generation)
    annotations.update(extra_annotations or {})
    return {
        "name": name or ref.name,
        "namespace": ref.namespace,
        "labels": labels(ref),
        "annotations": annotations,
    }


def header(api_version: str, kind: str, meta: Manifest) -> Manifest:
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}
