"""The deployer against a real nats-server and kubesim, over sockets."""

import base64
import json
import logging
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext
from pydantic import SecretStr

from jan_models.embedded import EmbeddedNats
from kubesim import KubeSim
from services.deployer import metrics
from services.deployer.app import DeployerApp, running
from services.deployer.settings import DeployerSettings
from shared import messaging
from shared.commands import CreateModel
from shared.messaging import MSG_ID_HEADER
from shared.model_spec import Requirements
from shared.names import CREATE_SUBJECT
from tests.deployer.conftest import CIPHER, EventLog
from tests.plugins.servers import health_through_an_outage
from tests.shared.examples import seed_create_command, seed_delete_command
from tests.waiting import eventually

pytestmark = pytest.mark.integration

TOKEN = "hf_integrationSecret123"
NS = "jan-models"
PATHS = {
    "Secret": "/api/v1/namespaces/jan-models/secrets/qwen3-coder-30b-hf-token",
    "PersistentVolumeClaim": "/api/v1/namespaces/jan-models/persistentvolumeclaims/qwen3-coder-30b-cache",
    "Service": "/api/v1/namespaces/jan-models/services/qwen3-coder-30b",
    "Deployment": "/apis/apps/v1/namespaces/jan-models/deployments/qwen3-coder-30b",
    "ServiceMonitor": "/apis/monitoring.coreos.com/v1/namespaces/jan-models/servicemonitors/qwen3-coder-30b",
    "PodAutoscaler": "/apis/autoscaling.aibrix.ai/v1alpha1/namespaces/jan-models/podautoscalers/qwen3-coder-30b",
}
SEED_LABELS = {
    "model.aibrix.ai/name": "qwen3-coder-30b",
    "model.aibrix.ai/port": "8000",
    "jan-server.menlo.ai/managed": "true",
    "jan-server.menlo.ai/organization-id": "123",
    "jan-server.menlo.ai/model-id": "mdl_abc123def456",
    "app.kubernetes.io/managed-by": "jan-models",
}


def seed_with_token() -> CreateModel:
    return seed_create_command().model_copy(
        update={"hf_token_encrypted": CIPHER.encrypt(SecretStr(TOKEN))}
    )


def other_model(suffix: str, **changes: Any) -> CreateModel:
    return seed_create_command().model_copy(
        update={
            "public_id": f"mdl_{suffix:0<12}"[:16],
            "name": f"model-{suffix}",
            "hf_token_encrypted": None,
            **changes,
        }
    )


async def objects(kube: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    found = {}
    for kind, path in PATHS.items():
        response = await kube.get(path)
        if response.status_code == 200:
            found[kind] = response.json()
    return found


def content(found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Objects without their status (controllers move it) and what kubesim rewrites on every write.

    kubesim stamps managedFields with the current second on each apply, so a no-op apply
    a second later bumps resourceVersion (a real apiserver ignores timestamp-only changes).
    """
    stripped = {}
    for kind, obj in found.items():
        meta = {
            k: v
            for k, v in obj["metadata"].items()
            if k not in ("managedFields", "resourceVersion")
        }
        stripped[kind] = {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}
    return stripped


async def test_seed_example_ends_with_six_labelled_objects_and_an_applied_event(
    deployer: DeployerApp,
    jetstream: JetStreamContext,
    events: EventLog,
    kube: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await messaging.publish_command(jetstream, seed_with_token())
    [applied] = await events.wait_for("mdl_abc123def456", "applied")
    assert applied.nats_subject == "model.events.123.qwen3-coder-30b.applied"
    assert [ref.kind for ref in applied.data.objects] == list(PATHS)  # type: ignore[union-attr]

    found = await objects(kube)
    assert set(found) == set(PATHS)
    for obj in found.values():
        assert obj["metadata"]["labels"] == SEED_LABELS
        assert obj["metadata"]["annotations"]["jan-server.menlo.ai/generation"] == "1"
    deployment = found["Deployment"]["spec"]
    assert deployment["strategy"]["type"] == "Recreate"
    assert "replicas" not in (found["Deployment"]["metadata"].get("managedFields") or [{}])[0].get(
        "fieldsV1", {}
    ).get("f:spec", {})
    assert deployment["template"]["metadata"]["labels"] == SEED_LABELS
    container = deployment["template"]["spec"]["containers"][0]
    assert container["name"] == "vllm-openai"
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert container["ports"][0]["name"] == "serve"
    assert found["Service"]["spec"]["ports"][0]["port"] == 8000
    assert found["PodAutoscaler"]["spec"]["scalingStrategy"] == "KPA"
    assert found["ServiceMonitor"]["spec"]["endpoints"][0]["path"] == "/metrics"
    assert (
        "storageClassName" not in found["PersistentVolumeClaim"]["spec"]
        or found["PersistentVolumeClaim"]["spec"]["storageClassName"] == "standard"
    )  # the simulator may fill in the default

    assert base64.b64decode(found["Secret"]["data"]["token"]).decode() == TOKEN
    await events.refresh()
    assert all(TOKEN not in raw.decode() for raw in events.raw)
    assert TOKEN not in json.dumps(found["Deployment"])
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in str(vars(record))


async def test_delete_removes_every_object_and_emits_deleted(
    deployer: DeployerApp, jetstream: JetStreamContext, events: EventLog, kube: httpx.AsyncClient
) -> None:
    await messaging.publish_command(jetstream, seed_with_token())
    await events.wait_for("mdl_abc123def456", "applied")
    await messaging.publish_command(jetstream, seed_delete_command())
    [deleted] = await events.wait_for("mdl_abc123def456", "deleted")
    assert {ref.kind for ref in deleted.data.objects} == set(PATHS)  # type: ignore[union-attr]
    assert await objects(kube) == {}


async def test_a_half_applied_model_is_cleaned_up_too(
    deployer: DeployerApp, jetstream: JetStreamContext, events: EventLog, kube: httpx.AsyncClient
) -> None:
    stray = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "qwen3-coder-30b", "namespace": NS, "labels": SEED_LABELS},
        "spec": {"ports": [{"name": "serve", "port": 8000}]},
    }
    await kube.post("/api/v1/namespaces", json={"metadata": {"name": NS}})
    response = await kube.post(f"/api/v1/namespaces/{NS}/services", json=stray)
    assert response.status_code == 201, response.text
    await messaging.publish_command(jetstream, seed_delete_command())
    [deleted] = await events.wait_for("mdl_abc123def456", "deleted")
    assert [ref.kind for ref in deleted.data.objects] == ["Service"]  # type: ignore[union-attr]
    assert await objects(kube) == {}


async def test_a_redelivered_command_changes_nothing(
    deployer: DeployerApp, jetstream: JetStreamContext, events: EventLog, kube: httpx.AsyncClient
) -> None:
    command = seed_with_token()
    await messaging.publish_command(jetstream, command)
    await events.wait_for("mdl_abc123def456", "applied")
    before = content(await objects(kube))
    # The same command again, past JetStream's duplicate window (a different message id).
    await jetstream.publish(
        CREATE_SUBJECT, command.model_dump_json().encode(), headers={MSG_ID_HEADER: "again"}
    )
    await events.wait_for("mdl_abc123def456", "applied", count=2)
    after = content(await objects(kube))
    assert after == before
    types = [e.type for e in await events.refresh()]
    assert types == ["ai.jan.model.applied", "ai.jan.model.applied"]


async def test_a_kubernetes_500_is_retried_until_it_succeeds(
    deployer: DeployerApp, jetstream: JetStreamContext, events: EventLog, kubesim: KubeSim
) -> None:
    retried = metrics.COMMANDS.labels("create", "retried")
    start = retried._value.get()
    kubesim.faults.set(error_rate=1.0, error_codes=(500,))
    await messaging.publish_command(jetstream, seed_with_token())

    async def retried_twice() -> bool:
        return bool(retried._value.get() >= start + 2)

    await eventually(retried_twice)
    assert [e for e in await events.refresh() if e.subject == "mdl_abc123def456"] == []
    kubesim.faults.clear()
    await events.wait_for("mdl_abc123def456", "applied")
    assert not [e for e in await events.refresh() if e.type.endswith(".failed")]


async def test_an_invalid_manifest_fails_and_the_consumer_carries_on(
    deployer: DeployerApp, jetstream: JetStreamContext, events: EventLog, kube: httpx.AsyncClient
) -> None:
    # Valid for the command schema (32 characters), too large for any apiserver.
    huge = "100000000000000000000000000000Ei"
    bad = other_model("bad", requirements=Requirements(cpu="1", memory=huge))
    await messaging.publish_command(jetstream, bad)
    await messaging.publish_command(jetstream, other_model("good"))
    [failed] = await events.wait_for(bad.public_id, "failed")
    assert failed.data.stage == "apply"  # type: ignore[union-attr]
    assert failed.data.reason == "Invalid"  # type: ignore[union-attr]
    assert "memory" in failed.data.message  # type: ignore[union-attr]
    await events.wait_for("mdl_good00000000", "applied")


async def test_malformed_messages_are_dropped_with_a_failed_event_when_identifiable(
    deployer: DeployerApp, jetstream: JetStreamContext, events: EventLog
) -> None:
    raw = json.loads(other_model("broken").model_dump_json())
    raw["deployment_config"]["gpu_count"] = "lots"
    await jetstream.publish(CREATE_SUBJECT, json.dumps(raw).encode())
    await jetstream.publish(CREATE_SUBJECT, b"{not json")
    await messaging.publish_command(jetstream, other_model("after"))
    [failed] = await events.wait_for("mdl_broken000000", "failed")
    assert failed.data.stage == "command"  # type: ignore[union-attr]
    await events.wait_for("mdl_after0000000", "applied")

    async def nothing_pending() -> bool:
        info = await jetstream.consumer_info("MODEL_COMMANDS", "deployer")
        return bool(info.num_ack_pending == 0 and info.num_pending == 0)

    await eventually(nothing_pending)


async def test_a_repair_emits_repaired_after_applied(
    deployer: DeployerApp, jetstream: JetStreamContext, events: EventLog
) -> None:
    await messaging.publish_command(jetstream, other_model("fix", cause="repair"))
    await events.wait_for("mdl_fix000000000", "repaired")
    types = [e.type.rsplit(".", 1)[1] for e in await events.refresh()]
    assert types == ["applied", "repaired"]


async def test_health_readiness_and_metrics_are_served(deployer: DeployerApp) -> None:
    transport = httpx.ASGITransport(app=deployer.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://deployer") as client:
        assert (await client.get("/healthz")).is_success
        assert (await client.get("/readyz")).status_code == 200
        body = (await client.get("/metrics")).text
    assert "jan_models_deployer_commands_total" in body
    assert "jan_models_deployer_apply_seconds" in body


async def test_health_is_that_of_the_connection_commands_and_events_go_over(
    deployer_settings: DeployerSettings, own_nats: EmbeddedNats
) -> None:
    settings = deployer_settings.model_copy(update={"nats_url": own_nats.url})
    async with (
        running(settings) as deployer,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=deployer.app), base_url="http://deployer"
        ) as client,
    ):

        async def health(expected: int) -> bool:
            return (await client.get("/healthz")).status_code == expected

        # one connection: the runtime works on the broker's, which /healthz pings
        assert deployer.runtime.parts.nats is deployer.broker.connection
        await health_through_an_outage(own_nats, health)
        # ...and that connection, reconnected, still carries commands and events
        nats = await messaging.connect(own_nats.url, name="tests")
        try:
            events = EventLog(nats.jetstream())
            await messaging.publish_command(nats.jetstream(), other_model("health"))
            await events.wait_for("mdl_health000000", "applied", timeout=30)
            await events.close()
        finally:
            await nats.close()


FOREIGN = {
    "Service": {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "qwen3-coder-30b", "labels": {"app": "theirs"}},
        "spec": {"selector": {"app": "theirs"}, "ports": [{"name": "http", "port": 80}]},
    },
    "Secret": {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "qwen3-coder-30b-hf-token", "labels": {"app": "theirs"}},
        "stringData": {"token": "theirs"},
    },
    "PersistentVolumeClaim": {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "qwen3-coder-30b-cache", "labels": {"app": "theirs"}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        },
    },
}


@pytest.mark.parametrize("kind", list(FOREIGN))
async def test_an_object_someone_else_owns_fails_the_model_and_is_never_touched(
    deployer: DeployerApp,
    jetstream: JetStreamContext,
    events: EventLog,
    kube: httpx.AsyncClient,
    kind: str,
) -> None:
    await kube.post("/api/v1/namespaces", json={"metadata": {"name": NS}})
    collection = PATHS[kind].rsplit("/", 1)[0]
    created = await kube.post(collection, json=FOREIGN[kind])
    assert created.status_code == 201, created.text
    before = (await kube.get(PATHS[kind])).json()

    await messaging.publish_command(jetstream, seed_with_token())
    [failed] = await events.wait_for("mdl_abc123def456", "failed")
    await messaging.publish_command(jetstream, seed_delete_command())
    await events.wait_for("mdl_abc123def456", "deleted")

    name = FOREIGN[kind]["metadata"]["name"]  # type: ignore[index]
    assert failed.data.reason == "Conflict"  # type: ignore[union-attr]
    assert failed.data.message == (  # type: ignore[union-attr]
        f"{kind} jan-models/{name} already exists and is not managed by jan-models"
    )
    after = await kube.get(PATHS[kind])
    assert after.status_code == 200
    assert after.json() == before  # same resourceVersion, labels, spec: untouched
    assert set(await objects(kube)) == {kind}  # nothing of ours was left or made
