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
    assert set(definition["depends_on"]) == {"mongodb", "nats"}
    assert all(dep["condition"] == "service_healthy" for dep in definition["depends_on"].values())


def test_compose_mongodb_is_a_replica_set_and_nats_has_jetstream(compose: dict[str, Any]) -> None:
    assert "--replSet" in compose["services"]["mongodb"]["command"]
    assert "-js" in compose["services"]["nats"]["command"]
    for service in SETTINGS:
        url = compose["services"][service]["environment"]["JAN_MODELS_MONGODB_URL"]
        assert "replicaSet=rs0" in url


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
    config_map = next(m for m in manifests if m["kind"] == "ConfigMap")
    variables = {env["name"] for env in container["env"]} | set(config_map["data"])

    assert container["args"] == [service]
    assert pod["serviceAccountName"] == f"jan-models-{service}"
    assert not variables - variables_read_by(SETTINGS[service])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod.get("automountServiceAccountToken", True) == (service in NEEDS_KUBERNETES)
