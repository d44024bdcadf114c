"""The pure part of a PATCH: merge patch, the body it merges into, what it changes."""

from typing import Any

import pytest

from services.api.changes import (
    TokenChange,
    apply_patch,
    changed_paths,
    check_in_place,
    current_body,
    generation_matches,
    gpu_readmission,
    if_match_tags,
    merge_patch,
    request_body,
    rolls_pods,
    touches_cluster,
)
from services.api.records import StoredModel
from services.api.requests import CreateModelRequest
from services.api.web.examples import SEED_CREATE_REQUEST
from shared.errors import InvalidRequestError, NameImmutableError, NotInPlaceError
from shared.model_spec import DeploymentConfig

SPEC = CreateModelRequest.model_validate(SEED_CREATE_REQUEST)


def stored(**changes: Any) -> StoredModel:
    """The seed's model as the registry stores it (secrets encrypted, never in clear)."""
    config = SPEC.deployment_config.spec().model_dump(mode="json")
    config |= {"has_hugging_face_token": True, "secret_env_names": []}
    document = {
        "id": 1,
        "public_id": "mdl_abc123def456",
        "organization_id": 123,
        "namespace": "default",
        "status": "running",
        "name": SPEC.name,
        "display_name": SPEC.display_name,
        "description": SPEC.description,
        "model_type": SPEC.model_type,
        "huggingface_id": SPEC.huggingface_id,
        "requirements": SPEC.requirements.model_dump(mode="json", exclude_unset=True),
        "deployment_config": config,
        "hf_token_encrypted": "gAAAA-encrypted",
        "tags": SPEC.tags,
        "is_public": False,
        "gpus_per_replica": 1,
        "quota_gpus": 8,
    }
    return StoredModel.from_document(document | changes)


def test_merge_patch_follows_rfc_7386_examples() -> None:
    # RFC 7386 appendix A, a few of its cases
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert merge_patch({"a": "b"}, {"a": None}) == {}
    assert merge_patch({"a": ["b"]}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}


def test_the_stored_model_reads_back_as_its_create_body_without_name_or_secrets() -> None:
    body = current_body(stored())
    assert "name" not in body
    assert "hugging_face_token" not in body["deployment_config"]
    assert "has_hugging_face_token" not in body["deployment_config"]
    assert body == request_body(SPEC)


def test_an_image_patch_changes_one_path_and_touches_the_cluster() -> None:
    patched = apply_patch(stored(), {"deployment_config": {"image": "vllm/vllm-openai:v0.11"}})
    request = CreateModelRequest.model_validate(patched.body)
    changed = changed_paths(current_body(stored()), request_body(request))
    assert changed == ["deployment_config.image"]
    assert touches_cluster(changed)
    assert rolls_pods(changed)
    assert patched.token is TokenChange.KEEP


def test_metadata_alone_keeps_the_cluster_out_of_it() -> None:
    patched = apply_patch(stored(), {"display_name": "New", "tags": ["x"], "is_public": True})
    request = CreateModelRequest.model_validate(patched.body)
    changed = changed_paths(current_body(stored()), request_body(request))
    assert changed == ["display_name", "tags", "is_public"]
    assert not touches_cluster(changed)


def test_null_removes_an_optional_field_and_restores_its_default() -> None:
    patched = apply_patch(stored(), {"deployment_config": {"gpu_count": None}})
    request = CreateModelRequest.model_validate(patched.body)
    assert request.deployment_config.gpu_count is None
    assert changed_paths(current_body(stored()), request_body(request)) == [
        "deployment_config.gpu_count"
    ]


def test_replicas_autoscaling_and_rollout_changes_keep_the_pods() -> None:
    assert not rolls_pods(["deployment_config.replicas", "deployment_config.rollout"])
    assert not rolls_pods(["deployment_config.hugging_face_token", "display_name"])
    assert rolls_pods(["deployment_config.args"])
    assert rolls_pods(["restart"])


def test_token_given_set_or_dropped() -> None:
    assert apply_patch(stored(), {"deployment_config": {"hugging_face_token": "hf_new"}}).token == (
        TokenChange.SET
    )
    dropped = apply_patch(stored(), {"deployment_config": {"hugging_face_token": None}})
    assert dropped.token is TokenChange.DROP
    assert "hugging_face_token" not in dropped.body["deployment_config"]


@pytest.mark.parametrize(
    ("patch", "error", "text"),
    [
        ({"name": "other"}, NameImmutableError, "name cannot be changed"),
        ([1, 2], InvalidRequestError, "a merge patch must be a JSON object"),
        ({"deployment_config": "x"}, InvalidRequestError, "deployment_config: must be an object"),
    ],
)
def test_a_patch_that_cannot_merge_is_a_400(patch: Any, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        apply_patch(stored(), patch)


def test_the_cache_volume_can_grow_but_not_shrink_or_change_class() -> None:
    old = DeploymentConfig.model_validate(
        SPEC.deployment_config.spec().model_dump() | {"pvc_size": "100Gi"}
    )
    check_in_place(old, old.model_copy(update={"pvc_size": "200Gi"}))
    with pytest.raises(NotInPlaceError, match="pvc_size cannot shrink in place: 50Gi"):
        check_in_place(old, old.model_copy(update={"pvc_size": "50Gi"}))
    with pytest.raises(NotInPlaceError, match="storage_class cannot be changed in place"):
        check_in_place(old, old.model_copy(update={"storage_class": "fast"}))
    check_in_place(old, old.model_copy(update={"enable_pvc": False}))


def test_if_match_names_the_generation() -> None:
    for if_match in ('"3"', 'W/"3"', '"1", "3"', "*", "3"):
        assert generation_matches(if_match_tags(if_match), 3), if_match
    assert not generation_matches(if_match_tags('"2"'), 3)


@pytest.mark.parametrize("if_match", ["", "abc", '"3" junk', "**", '"-1"', 'W/"x"'])
def test_an_if_match_that_names_no_entity_tag_is_a_400(if_match: str) -> None:
    with pytest.raises(InvalidRequestError, match=r"If-Match: .* is not an entity tag"):
        if_match_tags(if_match)


def test_readmission_asks_only_for_what_a_change_adds() -> None:
    old = stored()
    same = stored(deployment_config=old.deployment_config | {"image": "other"})
    assert gpu_readmission(old, same, changed=["deployment_config.image"]) is None

    more = stored(gpus_per_replica=2, quota_gpus=16)
    readmission = gpu_readmission(old, more, changed=["deployment_config.gpu_count"])
    assert readmission is not None
    assert (readmission.ask.gpus, readmission.ask.replicas, readmission.surge) == (2, 1, 0)

    rolling = {"strategy": "RollingUpdate", "max_surge": 1, "max_unavailable": 0}
    surging = stored(deployment_config=old.deployment_config | {"rollout": rolling})
    readmission = gpu_readmission(old, surging, changed=["deployment_config.image"])
    assert readmission is not None
    assert readmission.surge == 1
    assert readmission.rolls
    # a rollout change alone replaces no pod, so it needs no surge GPU
    assert gpu_readmission(old, surging, changed=["deployment_config.rollout"]) is None
    assert gpu_readmission(old, stored(gpus_per_replica=0), changed=["restart"]) is None
