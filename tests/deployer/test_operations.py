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
