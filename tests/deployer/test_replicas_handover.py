"""Switching a model between fixed and autoscaled replicas hands `spec.replicas` over as
server-side apply intends: the deployer owns the count while it sets it; once an
autoscaler decides, the count is never reset by a later apply, and taking it back sets
the user's number again. Real NATS and kubesim; ownership read from `managedFields`."""

from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from services.deployer.app import DeployerApp
from shared import messaging
from shared.commands import CreateModel
from shared.names import FIELD_MANAGER
from tests.deployer.conftest import EventLog
from tests.deployer.test_integration import PATHS
from tests.shared.examples import seed_create_command

pytestmark = pytest.mark.integration

PUBLIC_ID = "mdl_abc123def456"
AUTOSCALER = "aibrix-controller-manager"


def generation(number: int, *, autoscaled: bool, replicas: int = 1) -> CreateModel:
    seed = seed_create_command()
    config = seed.deployment_config.model_copy(
        update={"enable_autoscaling": autoscaled, "replicas": replicas}
    )
    return seed.model_copy(
        update={"generation": number, "deployment_config": config, "hf_token_encrypted": None}
    )


def replicas_owners(deployment: dict[str, Any]) -> set[str]:
    return {
        entry["manager"]
        for entry in deployment["metadata"].get("managedFields") or []
        if "f:replicas" in (entry.get("fieldsV1") or {}).get("f:spec", {})
    }


async def apply(
    jetstream: JetStreamContext, events: EventLog, kube: httpx.AsyncClient, command: CreateModel
) -> dict[str, Any]:
    await messaging.publish_command(jetstream, command)
    await events.wait_for(PUBLIC_ID, "applied", count=command.generation)
    deployment: dict[str, Any] = (await kube.get(PATHS["Deployment"])).json()
    assert deployment["metadata"]["annotations"]["jan-server.menlo.ai/generation"] == str(
        command.generation
    )
    return deployment


async def test_replicas_pass_between_the_deployer_and_the_autoscaler_without_a_reset(
    deployer: DeployerApp, jetstream: JetStreamContext, events: EventLog, kube: httpx.AsyncClient
) -> None:
    fixed = await apply(jetstream, events, kube, generation(1, autoscaled=False, replicas=3))
    assert fixed["spec"]["replicas"] == 3
    assert replicas_owners(fixed) == {FIELD_MANAGER}

    # autoscaled from now on: the count the deployer set stays until the autoscaler moves it
    handed = await apply(jetstream, events, kube, generation(2, autoscaled=True))
    assert handed["spec"]["replicas"] == 3
    assert FIELD_MANAGER not in replicas_owners(handed)
    assert (await kube.get(PATHS["PodAutoscaler"])).status_code == 200

    scaled = await kube.patch(
        f"{PATHS['Deployment']}/scale",
        params={"fieldManager": AUTOSCALER},
        json={"spec": {"replicas": 5}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert scaled.status_code == 200, scaled.text
    again = await apply(jetstream, events, kube, generation(3, autoscaled=True))
    assert again["spec"]["replicas"] == 5  # an update or repair never resets the autoscaler's
    assert AUTOSCALER in replicas_owners(again)
    assert FIELD_MANAGER not in replicas_owners(again)

    # fixed again: the deployer takes the count back and the autoscaler is pruned
    back = await apply(jetstream, events, kube, generation(4, autoscaled=False, replicas=2))
    assert back["spec"]["replicas"] == 2
    assert replicas_owners(back) == {FIELD_MANAGER}
    assert (await kube.get(PATHS["PodAutoscaler"])).status_code == 404
