"""Apply, prune and delete against an in-memory cluster."""

import pytest
from pydantic import SecretStr

from services.deployer.failures import ClusterError, CommandRejectedError
from services.deployer.operations import DeleteIncompleteError, apply_model, delete_model
from shared.crds import SERVICE_MONITOR_CRD
from shared.secrets import TokenCipher
from shared.settings import DEV_ENCRYPTION_KEY
from tests.deployer.fakes import FakeCluster
from tests.shared.examples import seed_create_command, seed_delete_command

CIPHER = TokenCipher(SecretStr(DEV_ENCRYPTION_KEY))
SIX = {
    "Secret",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "ServiceMonitor",
    "PodAutoscaler",
}


async def test_apply_creates_the_namespace_and_every_object() -> None:
    cluster = FakeCluster()
    command = seed_create_command().model_copy(
        update={"hf_token_encrypted": CIPHER.encrypt(SecretStr("hf_secret_value_42"))}
    )
    refs = await apply_model(command, cluster=cluster, cipher=CIPHER)
    assert cluster.namespaces == {"jan-models"}
    assert cluster.kinds() == SIX
    assert [ref.kind for ref in refs] == [
        "Secret",
        "PersistentVolumeClaim",
        "Service",
        "Deployment",
        "ServiceMonitor",
        "PodAutoscaler",
    ]


async def test_apply_skips_the_service_monitor_without_its_crd() -> None:
    cluster = FakeCluster()
    cluster.crds.discard(SERVICE_MONITOR_CRD)
    await apply_model(
        seed_create_command().model_copy(update={"hf_token_encrypted": None}),
        cluster=cluster,
        cipher=CIPHER,
    )
    assert cluster.kinds() == SIX - {"ServiceMonitor", "Secret"}


async def test_a_token_that_does_not_decrypt_is_a_permanent_rejection() -> None:
    with pytest.raises(CommandRejectedError) as caught:
        await apply_model(seed_create_command(), cluster=FakeCluster(), cipher=CIPHER)
    assert caught.value.reason == "TokenUndecryptable"


async def test_autoscaling_without_aibrix_is_rejected_before_anything_is_applied() -> None:
    cluster = FakeCluster(crds=set())
    command = seed_create_command().model_copy(update={"hf_token_encrypted": None})
    with pytest.raises(CommandRejectedError) as caught:
        await apply_model(command, cluster=cluster, cipher=CIPHER)
    assert caught.value.message == "aibrix CRD not found - required for model deployment"
    assert cluster.objects == {}


async def test_a_later_generation_removes_what_a_feature_switch_turned_off() -> None:
    cluster = FakeCluster()
    first = seed_create_command().model_copy(
        update={"hf_token_encrypted": CIPHER.encrypt(SecretStr("hf_secret_value_42"))}
    )
    await apply_model(first, cluster=cluster, cipher=CIPHER)
    config = first.deployment_config.model_copy(
        update={"enable_autoscaling": False, "enable_pvc": False}
    )
    second = first.model_copy(
        update={
            "generation": 2,
            "deployment_config": config,
            "hf_token_encrypted": None,
            "cause": "update",
        }
    )
    await apply_model(second, cluster=cluster, cipher=CIPHER)
    assert cluster.kinds() == {"Service", "Deployment", "ServiceMonitor"}
    deployment = cluster.objects[("Deployment", "jan-models", "qwen3-coder-30b")]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["metadata"]["annotations"]["jan-server.menlo.ai/generation"] == "2"


async def test_delete_removes_every_labelled_object_including_strays() -> None:
    cluster = FakeCluster()
    await apply_model(
        seed_create_command().model_copy(update={"hf_token_encrypted": None}),
        cluster=cluster,
        cipher=CIPHER,
    )
    other = seed_create_command().model_copy(
        update={"public_id": "mdl_other0000000", "name": "other", "hf_token_encrypted": None}
    )
    await apply_model(other, cluster=cluster, cipher=CIPHER)
    removed = await delete_model(seed_delete_command(), cluster=cluster)
    assert {ref.kind for ref in removed} == SIX - {"Secret"}
    assert {name for _, _, name in cluster.objects} == {"other", "other-cache"}


async def test_delete_of_a_missing_model_is_success() -> None:
    assert await delete_model(seed_delete_command(), cluster=FakeCluster()) == []


async def test_one_failing_kind_does_not_stop_the_others() -> None:
    cluster = FakeCluster()
    await apply_model(
        seed_create_command().model_copy(update={"hf_token_encrypted": None}),
        cluster=cluster,
        cipher=CIPHER,
    )
    cluster.fail_kinds["Service"] = ClusterError(
        status=503, reason="ServiceUnavailable", message="busy"
    )
    with pytest.raises(DeleteIncompleteError) as caught:
        await delete_model(seed_delete_command(), cluster=cluster)
    assert caught.value.transient
    assert cluster.kinds() == {"Service"}


def foreign(kind: str, name: str) -> dict[str, object]:
    """An object someone else made in the namespace: no model-id label of ours."""
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "jan-models", "labels": {"app": "theirs"}},
        "spec": {"selector": {"app": "theirs"}},
    }


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("Service", "qwen3-coder-30b"),
        ("Secret", "qwen3-coder-30b-hf-token"),
        ("PersistentVolumeClaim", "qwen3-coder-30b-cache"),
        ("PodAutoscaler", "qwen3-coder-30b"),
    ],
)
async def test_an_object_that_is_not_ours_fails_the_apply_and_is_left_as_it_was(
    kind: str, name: str
) -> None:
    cluster = FakeCluster()
    theirs = foreign(kind, name)
    cluster.objects[(kind, "jan-models", name)] = theirs
    command = seed_create_command().model_copy(
        update={"hf_token_encrypted": CIPHER.encrypt(SecretStr("hf_token"))}
    )

    with pytest.raises(CommandRejectedError) as caught:
        await apply_model(command, cluster=cluster, cipher=CIPHER)

    assert caught.value.reason == "Conflict"
    assert caught.value.message == (
        f"{kind} jan-models/{name} already exists and is not managed by jan-models"
    )
    assert cluster.applied == []  # nothing written: the check comes before any apply
    assert cluster.objects == {(kind, "jan-models", name): foreign(kind, name)}


async def test_the_first_collision_in_apply_order_is_the_one_named() -> None:
    cluster = FakeCluster()
    for kind, name in (("Deployment", "qwen3-coder-30b"), ("Service", "qwen3-coder-30b")):
        cluster.objects[(kind, "jan-models", name)] = foreign(kind, name)

    with pytest.raises(CommandRejectedError) as caught:
        await apply_model(
            seed_create_command().model_copy(update={"hf_token_encrypted": None}),
            cluster=cluster,
            cipher=CIPHER,
        )

    assert caught.value.message.startswith("Service jan-models/qwen3-coder-30b ")


async def test_only_objects_already_ours_are_applied_with_force() -> None:
    cluster = FakeCluster()
    command = seed_create_command().model_copy(update={"hf_token_encrypted": None})

    await apply_model(command, cluster=cluster, cipher=CIPHER)
    assert cluster.forced == []  # first apply: every name was free
    del cluster.objects[("Service", "jan-models", "qwen3-coder-30b")]  # deleted by hand
    cluster.applied.clear()
    await apply_model(command, cluster=cluster, cipher=CIPHER)

    assert len(cluster.applied) == len(SIX) - 1
    assert ("Service", "jan-models", "qwen3-coder-30b") not in cluster.forced
    assert set(cluster.forced) == set(cluster.applied) - {
        ("Service", "jan-models", "qwen3-coder-30b")
    }


async def test_prune_leaves_an_object_of_that_name_that_is_not_ours() -> None:
    cluster = FakeCluster()
    first = seed_create_command().model_copy(update={"hf_token_encrypted": None})
    await apply_model(first, cluster=cluster, cipher=CIPHER)
    theirs = foreign("PersistentVolumeClaim", "qwen3-coder-30b-cache")
    cluster.objects[("PersistentVolumeClaim", "jan-models", "qwen3-coder-30b-cache")] = theirs
    config = first.deployment_config.model_copy(update={"enable_pvc": False})
    second = first.model_copy(update={"generation": 2, "deployment_config": config})

    await apply_model(second, cluster=cluster, cipher=CIPHER)

    assert cluster.objects[("PersistentVolumeClaim", "jan-models", "qwen3-coder-30b-cache")] == (
        foreign("PersistentVolumeClaim", "qwen3-coder-30b-cache")
    )
