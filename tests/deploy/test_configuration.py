"""compose.yaml and deploy/ run what the code has and set only what the code reads."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings
from typer.main import get_command

from jan_models.cli import app
from services.api.settings import ApiSettings
from services.deployer.settings import DeployerSettings
from services.inventory.settings import InventorySettings

ROOT = Path(__file__).parents[2]
SETTINGS: dict[str, type[BaseSettings]] = {
    "api": ApiSettings,
    "deployer": DeployerSettings,
    "inventory": InventorySettings,
}
NEEDS_KUBERNETES = {"deployer", "inventory"}
NATS_NODES = ("nats-1", "nats-2", "nats-3")


def variables_read_by(settings: type[BaseSettings]) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def subcommands() -> set[str]:
    return set(get_command(app).commands)  # type: ignore[attr-defined]  # a click Group


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((ROOT / "deploy").glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


@pytest.mark.parametrize("service", SETTINGS)
def test_compose_runs_each_service_with_only_variables_it_reads(
    compose: dict[str, Any], service: str
) -> None:
    definition = compose["services"][service]
    environment = definition["environment"]

    assert definition["command"] == [service]
    assert service in subcommands()
    unknown = {name for name in environment if name.startswith("JAN_MODELS_")} - variables_read_by(
        SETTINGS[service]
    )
    assert not unknown, f"compose sets variables {service} never reads: {unknown}"
    assert {"JAN_MODELS_NATS_URL", "JAN_MODELS_MONGODB_URL", "JAN_MODELS_ENCRYPTION_KEY"} <= set(
        environment
    )
    assert environment["JAN_MODELS_ENVIRONMENT"] == "production"
    mounts_kubeconfig = any("kube" in volume for volume in definition.get("volumes", []))
    assert mounts_kubeconfig == (service in NEEDS_KUBERNETES)
    assert set(definition["depends_on"]) == {"mongodb", *NATS_NODES}
    assert all(dep["condition"] == "service_healthy" for dep in definition["depends_on"].values())


def test_compose_mongodb_is_a_replica_set_and_nats_a_three_node_jetstream_cluster(
    compose: dict[str, Any],
) -> None:
    assert "--replSet" in compose["services"]["mongodb"]["command"]
    for node in NATS_NODES:
        command = compose["services"][node]["command"]
        assert "-js" in command
        assert command[command.index("--server_name") + 1] == node
        routes = command[command.index("--routes") + 1].split(",")
        assert sorted(routes) == [f"nats://{other}:6222" for other in NATS_NODES if other != node]
    for service in SETTINGS:
        environment = compose["services"][service]["environment"]
        assert "replicaSet=rs0" in environment["JAN_MODELS_MONGODB_URL"]
        assert environment["JAN_MODELS_NATS_URL"].split(",") == [
            f"nats://{node}:4222" for node in NATS_NODES
        ]
        assert environment["JAN_MODELS_STREAM_REPLICAS"] == "3"


def test_deploy_runs_nats_as_three_routed_nodes_and_replicates_streams_on_each(
    manifests: list[dict[str, Any]],
) -> None:
    [nats] = [
        m for m in manifests if m["kind"] == "StatefulSet" and m["metadata"]["name"] == "nats"
    ]
    replicas = nats["spec"]["replicas"]
    conf = next(
        m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "nats"
    )
    routes = conf["data"]["nats.conf"]
    service = nats["spec"]["serviceName"]
    for ordinal in range(replicas):
        assert f"nats://nats-{ordinal}.{service}.jan-models-system.svc:6222" in routes
    config = jan_models_config(manifests)["data"]
    assert int(config["JAN_MODELS_STREAM_REPLICAS"]) == replicas == 3
    assert config["JAN_MODELS_NATS_URL"] == "nats://nats.jan-models-system.svc:4222"
    [budget] = [
        m
        for m in manifests
        if m["kind"] == "PodDisruptionBudget" and m["metadata"]["name"] == "nats"
    ]
    assert budget["spec"]["maxUnavailable"] == 1  # two of three keep the streams' quorum


def jan_models_config(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return next(
        m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "jan-models"
    )


@pytest.mark.parametrize("service", SETTINGS)
def test_each_cluster_deployment_runs_its_service_with_variables_it_reads(
    manifests: list[dict[str, Any]], service: str
) -> None:
    [deployment] = [
        m
        for m in manifests
        if m["kind"] == "Deployment" and m["metadata"]["name"] == f"jan-models-{service}"
    ]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    config_map = jan_models_config(manifests)
    variables = {env["name"] for env in container["env"]} | set(config_map["data"])

    assert container["args"] == [service]
    assert pod["serviceAccountName"] == f"jan-models-{service}"
    assert not variables - variables_read_by(SETTINGS[service])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod.get("automountServiceAccountToken", True) == (service in NEEDS_KUBERNETES)


@pytest.mark.parametrize("service", SETTINGS)
def test_each_service_runs_two_replicas_that_a_drain_never_takes_both_of(
    manifests: list[dict[str, Any]], service: str
) -> None:
    name = f"jan-models-{service}"
    [deployment] = [
        m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == name
    ]
    [budget] = [
        m for m in manifests if m["kind"] == "PodDisruptionBudget" and m["metadata"]["name"] == name
    ]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    assert deployment["spec"]["replicas"] == 2
    assert budget["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    leases = [
        e for e in container["env"] if e["name"] == "JAN_MODELS_INVENTORY_LEADER_LEASE_SECONDS"
    ]
    # several inventories must elect one writer; the api and deployer need no election
    assert bool(leases) == (service == "inventory")
    if leases:
        InventorySettings(inventory_leader_lease_seconds=leases[0]["value"])
