"""A PATCH as data: the merge patch over the model's create body, and what it changes.

Pure. The stored model is turned back into the create body it came from (without
`name`, which cannot change, and without any secret: the token and the secret
`extra_env` values are never stored in clear, so they enter a patch only as new values).
The patch is merged into it by RFC 7386; once the merged body has passed the create
request's validation, the two bodies are compared field by field to say what changed,
whether any of it changes what runs in the cluster, and whether the cluster can make
the change in place at all.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from services.api.admission import Ask
from services.api.documents import stored_config
from services.api.records import StoredModel
from services.api.requests import CreateModelRequest
from shared.errors import InvalidRequestError, NameImmutableError, NotInPlaceError
from shared.model_spec import DeploymentConfig, Requirements
from shared.placement import gpu_type, most_replicas, per_gpu_memory_mib, starting_replicas
from shared.quantity import parse_quantity
from shared.records import Document

JsonObject = dict[str, Any]

METADATA_FIELDS: Final = frozenset(
    {"display_name", "description", "tags", "is_public", "model_type"}
)
"""What the registry alone holds: a change to these touches no cluster object."""
TOKEN_PATH: Final = "deployment_config.hugging_face_token"  # noqa: S105  # a field path
SECRET_ENV_PATH: Final = "deployment_config.extra_env"  # noqa: S105  # a field path
KEEPS_PODS: Final = frozenset(
    {
        "huggingface_id",
        "deployment_config.replicas",
        "deployment_config.enable_autoscaling",
        "deployment_config.autoscaling_config",
        "deployment_config.rollout",
        TOKEN_PATH,
    }
)
"""Changes that leave the pod template as it is: the Deployment keeps its pods (the
token is read from its Secret when a pod starts)."""


class TokenChange(StrEnum):
    KEEP = "keep"
    SET = "set"
    DROP = "drop"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: an object merges member by member, `null` removes a member, anything
    else (an array included) replaces the target whole."""
    if not isinstance(patch, Mapping):
        return patch
    merged: JsonObject = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def current_body(model: StoredModel) -> JsonObject:
    """The create body the model runs with now, minus `name` and minus every secret."""
    record = model.record
    return {
        "display_name": record.display_name or "",
        "description": record.description or "",
        "model_type": record.model_type or "completion",
        "huggingface_id": record.huggingface_id or "",
        "requirements": record.requirements or {},
        "deployment_config": stored_config(model).model_dump(mode="json"),
        "tags": list(record.tags or []),
        "is_public": bool(record.is_public),
    }


def request_body(request: CreateModelRequest) -> JsonObject:
    """A validated request as `current_body` would show it once stored."""
    return {
        "display_name": request.effective_display_name,
        "description": request.description,
        "model_type": request.model_type,
        "huggingface_id": request.huggingface_id,
        "requirements": request.requirements.model_dump(mode="json", exclude_unset=True),
        "deployment_config": request.deployment_config.spec().model_dump(mode="json"),
        "tags": list(request.tags),
        "is_public": request.is_public,
    }


@dataclass(frozen=True, slots=True)
class Patched:
    body: JsonObject
    """The merged create body with `name` (and a new token when one is given), for the
    create request's validation."""
    token: TokenChange
    extra_env_given: bool
    """`extra_env` was in the patch: its secret entries replace the stored ones."""


def apply_patch(model: StoredModel, patch: Any) -> Patched:
    """The merged body; 400 for a `name` or a patch that is not an object."""
    if not isinstance(patch, Mapping):
        raise InvalidRequestError("request body: a merge patch must be a JSON object")
    if "name" in patch:
        raise NameImmutableError
    config_patch = patch.get("deployment_config")
    if config_patch is not None and not isinstance(config_patch, Mapping):
        raise InvalidRequestError("deployment_config: must be an object")
    config_patch = config_patch or {}
    token = TokenChange.KEEP
    if "hugging_face_token" in config_patch:
        given = config_patch["hugging_face_token"]
        token = TokenChange.DROP if given in (None, "") else TokenChange.SET
    body = {"name": model.record.name, **merge_patch(current_body(model), patch)}
    return Patched(body=body, token=token, extra_env_given="extra_env" in config_patch)


def metadata_changes(request: CreateModelRequest, *, now: datetime) -> JsonObject:
    """The registry fields every stored change sets (as `$set`): the metadata as the
    validated request has it, and `updated_at`."""
    return {
        "display_name": request.effective_display_name,
        "description": request.description,
        "model_type": request.model_type,
        "tags": list(request.tags),
        "is_public": request.is_public,
        "updated_at": now,
    }


def desired_changes(
    model: StoredModel,
    request: CreateModelRequest,
    patched: Patched,
    *,
    secrets: JsonObject,
    gpus: int,
) -> JsonObject:
    """The fields a new generation sets besides the metadata: the encrypted secrets that
    changed, and the desired state the validated request asks for (`gpus` per replica),
    its stored config saying which secrets it has in place of their values."""
    config = request.deployment_config
    deployment_config = config.spec().model_dump(mode="json")
    token_stored = secrets.get("hf_token_encrypted", model.hf_token_encrypted)
    deployment_config["has_hugging_face_token"] = token_stored is not None
    deployment_config["secret_env_names"] = (
        sorted(config.secret_env())
        if patched.extra_env_given
        else model.deployment_config.get("secret_env_names", [])
    )
    return secrets | {
        "huggingface_id": request.huggingface_id,
        "requirements": request.requirements.model_dump(mode="json", exclude_unset=True),
        "deployment_config": deployment_config,
        "gpus_per_replica": gpus,
        "quota_gpus": gpus * most_replicas(config),
    }


def changed_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths where `new` differs from `old`, down to the fields of
    `deployment_config` and `requirements` (`deployment_config.image`)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping) and prefix.count(".") < 1:
        paths: list[str] = []
        for key in dict.fromkeys([*old, *new]):
            path = f"{prefix}.{key}" if prefix else str(key)
            if old.get(key) != new.get(key):
                paths.extend(changed_paths(old.get(key), new.get(key), path) or [path])
        return paths
    return [prefix] if old != new else []


def touches_cluster(paths: list[str]) -> bool:
    """A change to anything but the registry's metadata is a new generation."""
    return any(path.split(".")[0] not in METADATA_FIELDS for path in paths)


def check_in_place(old: DeploymentConfig, new: DeploymentConfig) -> None:
    """What a running model's cache volume cannot do: change class, or shrink (Kubernetes
    only expands a claim). A 400 saying so: delete and create the model to do that."""
    if not (old.enable_pvc and new.enable_pvc):
        return
    if old.storage_class != new.storage_class:
        raise NotInPlaceError(
            "deployment_config.storage_class cannot be changed in place (the cache volume "
            f"keeps class {old.storage_class or 'default'!r}); delete and re-create the model"
        )
    if parse_quantity(new.pvc_size) < parse_quantity(old.pvc_size):
        raise NotInPlaceError(
            f"deployment_config.pvc_size cannot shrink in place: {new.pvc_size} is smaller "
            f"than {old.pvc_size} (a volume can only grow)"
        )


def secrets_paths(changes: Document) -> list[str]:
    """The paths a secret change shows as (never its value)."""
    paths = {"hf_token_encrypted": TOKEN_PATH, "secret_env_encrypted": SECRET_ENV_PATH}
    return [paths[key] for key in changes if key in paths]


_TAG: Final = r'(W/)?"?[0-9]{1,19}"?'
IF_MATCH_PATTERN: Final = rf"^(\*|{_TAG}( *, *{_TAG})*)$"
_IF_MATCH: Final = re.compile(IF_MATCH_PATTERN)


def if_match_tags(if_match: str) -> tuple[str, ...]:
    """The entity tags an `If-Match` names (`"3"`, `W/"3"`, `3`, `*`, or a list of them);
    anything else is a 400, before the model is looked up."""
    if not _IF_MATCH.fullmatch(if_match):
        raise InvalidRequestError(
            f'If-Match: {if_match[:40]!r} is not an entity tag such as "3" (or *)'
        )
    return tuple(tag.strip().removeprefix("W/") for tag in if_match.split(","))


def generation_matches(tags: tuple[str, ...], generation: int) -> bool:
    return any(tag in ("*", f'"{generation}"', str(generation)) for tag in tags)


@dataclass(frozen=True, slots=True)
class Readmission:
    ask: Ask
    """The replicas the new generation starts with, each with its GPUs."""
    surge: int
    """Extra pods the rollout runs beside the old ones."""
    rolls: bool
    """The pods are replaced (their template changes)."""


def rolls_pods(changed: list[str]) -> bool:
    return any(
        path not in KEEPS_PODS and path.split(".")[0] not in METADATA_FIELDS for path in changed
    )


def gpu_readmission(
    old: StoredModel, new: StoredModel, *, changed: list[str]
) -> Readmission | None:
    """What a change asks of admission, or None when it adds no GPU: none per replica,
    no more per replica, no more starting replicas, no higher quota count, and no surge
    pod. Fewer GPUs are simply given back as the old pods go."""
    gpus = new.record.gpus_per_replica
    if gpus == 0:
        return None
    old_config, new_config = stored_config(old), stored_config(new)
    rolls = rolls_pods(changed)
    surge = new_config.rollout.surge if rolls else 0
    replicas = starting_replicas(new_config)
    adds = (
        gpus > old.record.gpus_per_replica
        or replicas > starting_replicas(old_config)
        or new.record.quota_gpus > old.record.quota_gpus
        or surge > 0
    )
    if not adds:
        return None
    requirements = Requirements.model_validate(new.record.requirements or {})
    ask = Ask(
        gpus=gpus,
        replicas=replicas,
        memory_mib=per_gpu_memory_mib(requirements, gpus),
        gpu_type=gpu_type(requirements),
    )
    return Readmission(ask=ask, surge=surge, rolls=rolls)
