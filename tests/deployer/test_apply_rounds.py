"""A model's objects go out in two concurrent rounds; the Deployment waits for what it mounts."""

import asyncio

import pytest
from pydantic import SecretStr

from services.deployer.failures import ClusterError
from services.deployer.manifests import Manifest
from services.deployer.operations import apply_model
from shared.names import FIELD_MANAGER
from shared.secrets import TokenCipher
from shared.settings import DEV_ENCRYPTION_KEY
from tests.deployer.fakes import FakeCluster
from tests.shared.examples import seed_create_command

CIPHER = TokenCipher(SecretStr(DEV_ENCRYPTION_KEY))


class GatedCluster(FakeCluster):
    """Each apply waits until the test lets it finish, so overlap is observable."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []
        self.finished: list[str] = []
        self.gate = asyncio.Event()

    async def apply(self, manifest: Manifest, *, force: bool, manager: str = FIELD_MANAGER) -> None:
        self.started.append(manifest["kind"])
        await self.gate.wait()
        await super().apply(manifest, force=force, manager=manager)
        self.finished.append(manifest["kind"])


async def _until() -> None:
    for _ in range(100):
        await asyncio.sleep(0)


async def test_first_round_runs_together_and_the_deployment_waits_for_it() -> None:
    cluster = GatedCluster()
    command = seed_create_command().model_copy(
        update={"hf_token_encrypted": CIPHER.encrypt(SecretStr("hf_token"))}
    )
    task = asyncio.create_task(apply_model(command, cluster=cluster, cipher=CIPHER))
    await _until()
    assert sorted(cluster.started) == ["PersistentVolumeClaim", "Secret", "Service"]
    cluster.gate.set()
    refs = await task
    assert set(cluster.started[3:]) == {"Deployment", "ServiceMonitor", "PodAutoscaler"}
    assert set(cluster.finished[:3]) == {"PersistentVolumeClaim", "Secret", "Service"}
    assert [ref.kind for ref in refs][:4] == [
        "Secret",
        "PersistentVolumeClaim",
        "Service",
        "Deployment",
    ]


async def test_a_failure_in_the_first_round_applies_nothing_that_depends_on_it() -> None:
    cluster = FakeCluster()
    cluster.fail_apply.append(ClusterError(status=500, reason="InternalError", message="boom"))
    with pytest.raises(ClusterError):
        await apply_model(
            seed_create_command().model_copy(update={"hf_token_encrypted": None}),
            cluster=cluster,
            cipher=CIPHER,
        )
    assert "Deployment" not in cluster.kinds()
