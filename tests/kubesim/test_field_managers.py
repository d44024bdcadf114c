"""Field managers on updates and patches as well as applies: server-side apply conflicts
between kubectl and other writers as a real API server reports them."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesim import KubeSim
from kubesim.controllers.common import DEPLOYMENTS
from tests.kubesim.conftest import deployment, kubectl, official_client

pytestmark = pytest.mark.integration


def _managers(sim: KubeSim, name: str) -> dict[tuple[str, str, str], Any]:
    d = sim.store.get(DEPLOYMENTS, "default", name)
    return {
        (e["manager"], e["operation"], e.get("subresource", "")): e
        for e in d["metadata"]["managedFields"]
    }


async def _apply(
    kubeconfig: Path, manifest: Path, *flags: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        kubectl,
        kubeconfig,
        "apply",
        "--server-side",
        "--validate=false",
        *flags,
        "-f",
        str(manifest),
        ok=ok,
    )


@pytest.mark.kubectl
async def test_apply_conflicts_with_fields_an_update_wrote(
    kubesim: KubeSim, kubeconfig_path: Path, tmp_path: Path
) -> None:
    def create_and_patch() -> None:
        from kubernetes import client

        with official_client(kubeconfig_path) as api:
            apps: Any = client.AppsV1Api(api)
            apps.create_namespaced_deployment("default", deployment("model"))
            apps.patch_namespaced_deployment(
                "model", "default", {"spec": {"replicas": 3}}, field_manager="autoscaler"
            )
            body = apps.read_namespaced_deployment("model", "default")
            body.metadata.annotations = {"team": "serving"}
            body.metadata.resource_version = None  # unconditional: controllers write status
            apps.replace_namespaced_deployment("model", "default", body)

    await asyncio.to_thread(create_and_patch)
    managers = _managers(kubesim, "model")
    scaler = managers[("autoscaler", "Update", "")]
    assert scaler["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert scaler["apiVersion"] == "apps/v1"
    # without ?fieldManager= the manager is the user agent's first segment
    (replacer,) = [e for (m, op, _s), e in managers.items() if op == "Update" and m != "autoscaler"]
    assert replacer["manager"] == "OpenAPI-Generator"
    assert "f:team" in replacer["fieldsV1"]["f:metadata"]["f:annotations"]

    manifest = tmp_path / "model.yaml"
    wanted = deployment("model")
    wanted["metadata"]["namespace"] = "default"
    wanted["spec"]["replicas"] = 1
    manifest.write_text(yaml.safe_dump(wanted))
    refused = await _apply(kubeconfig_path, manifest, ok=False)
    assert refused.returncode != 0
    assert (
        'Apply failed with 1 conflict: conflict with "autoscaler" using apps/v1 at '
        f"{scaler['time']}: .spec.replicas"
    ) in refused.stderr
    assert kubesim.store.get(DEPLOYMENTS, "default", "model")["spec"]["replicas"] == 3

    # the same value as the updater's is no conflict: both own the field
    wanted["spec"]["replicas"] = 3
    manifest.write_text(yaml.safe_dump(wanted))
    await _apply(kubeconfig_path, manifest)
    managers = _managers(kubesim, "model")
    assert "f:replicas" in managers[("kubectl", "Apply", "")]["fieldsV1"]["f:spec"]
    assert "f:replicas" in managers[("autoscaler", "Update", "")]["fieldsV1"]["f:spec"]

    wanted["spec"]["replicas"] = 2
    manifest.write_text(yaml.safe_dump(wanted))
    forced = await _apply(kubeconfig_path, manifest, "--force-conflicts")
    assert "serverside-applied" in forced.stdout
    managers = _managers(kubesim, "model")
    assert kubesim.store.get(DEPLOYMENTS, "default", "model")["spec"]["replicas"] == 2
    assert ("autoscaler", "Update", "") not in managers


@pytest.mark.kubectl
async def test_scale_and_label_record_their_managers_and_conflicts_list_every_manager(
    kubesim: KubeSim, kubeconfig_path: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "web.json"
    wanted = deployment("web")
    wanted["metadata"]["namespace"] = "default"
    manifest.write_text(json.dumps(wanted))
    await _apply(kubeconfig_path, manifest)
    await asyncio.to_thread(kubectl, kubeconfig_path, "scale", "deployment", "web", "--replicas=4")
    await asyncio.to_thread(kubectl, kubeconfig_path, "label", "deployment", "web", "tier=gold")
    managers = _managers(kubesim, "web")
    assert managers[("kubectl", "Update", "scale")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    label = managers[("kubectl-label", "Update", "")]
    assert label["fieldsV1"] == {"f:metadata": {"f:labels": {"f:tier": {}}}}

    wanted["metadata"]["labels"] = {"tier": "silver"}
    wanted["spec"]["replicas"] = 1
    manifest.write_text(json.dumps(wanted))
    refused = await _apply(kubeconfig_path, manifest, "--field-manager=deployer", ok=False)
    # the scale took spec.replicas from kubectl's apply, as an update does on a real server
    scale = managers[("kubectl", "Update", "scale")]
    assert (
        "Apply failed with 2 conflicts: "
        f'conflicts with "kubectl" with subresource "scale" using apps/v1 at {scale["time"]}:\n'
        "- .spec.replicas\n"
        f'conflicts with "kubectl-label" using apps/v1 at {label["time"]}:\n'
        "- .metadata.labels.tier\n"
    ) in refused.stderr
