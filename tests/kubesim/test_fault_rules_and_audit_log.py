"""Targeted fault rules and the ordered audit log, over the control endpoints, seen by the
official client and kubectl."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from kubesim import KubeSim
from tests.kubesim.conftest import deployment, kubectl, official_client
from tests.plugins.kubesim import KubesimControl
from tests.waiting import eventually

pytestmark = pytest.mark.integration


async def test_a_rule_fails_only_its_requests_for_its_count(
    kubesim: KubeSim, kubeconfig_path: Path
) -> None:
    async with KubesimControl(kubesim.url) as control:
        rule = await control.add_fault_rule(
            verb="patch",
            resource="deployments",
            namespace="default",
            name="target",
            code=409,
            message="injected conflict",
            count=2,
        )
        assert (rule["live"], rule["hits"]) == (True, 0)

        def patch_three_times() -> list[tuple[str, int, str]]:
            from kubernetes import client
            from kubernetes.client.exceptions import ApiException

            outcomes = []
            with official_client(kubeconfig_path) as api:
                apps: Any = client.AppsV1Api(api)
                for name in ("target", "other"):
                    apps.create_namespaced_deployment("default", deployment(name))
                for name in ("target", "target", "other", "target"):
                    try:
                        apps.patch_namespaced_deployment(
                            name, "default", {"metadata": {"labels": {"try": "x"}}}
                        )
                        outcomes.append((name, 200, ""))
                    except ApiException as exc:
                        body = json.loads(exc.body or "{}")
                        outcomes.append((name, exc.status, f"{body['reason']}: {body['message']}"))
            return outcomes

        outcomes = await asyncio.to_thread(patch_three_times)
        assert outcomes == [
            ("target", 409, "Conflict: injected conflict"),
            ("target", 409, "Conflict: injected conflict"),
            ("other", 200, ""),
            ("target", 200, ""),
        ]
        (spent,) = await control.fault_rules()
        assert (spent["id"], spent["hits"], spent["live"]) == (rule["id"], 2, False)
        await control.remove_fault_rule(rule["id"])
        assert await control.fault_rules() == []


@pytest.mark.kubectl
async def test_a_timed_rule_ends_and_kubectl_shows_its_answer(
    kubesim: KubeSim, kubeconfig_path: Path
) -> None:
    async with KubesimControl(kubesim.url) as control:
        await control.add_fault_rule(
            verb="list", resource="nodes", code=403, message="nodes is forbidden", seconds=1.0
        )
        denied = await asyncio.to_thread(kubectl, kubeconfig_path, "get", "nodes", ok=False)
        assert denied.returncode != 0
        assert "nodes is forbidden" in denied.stderr
        # pods are not covered by the rule
        await asyncio.to_thread(kubectl, kubeconfig_path, "get", "pods")

        async def allowed_again() -> bool:
            done = await asyncio.to_thread(kubectl, kubeconfig_path, "get", "nodes", ok=False)
            return done.returncode == 0

        await eventually(allowed_again)
        with pytest.raises(Exception, match="400"):
            await control.add_fault_rule(code=200)
        with pytest.raises(Exception, match="400"):
            await control.add_fault_rule(code=500, verbs="get")


@pytest.mark.kubectl
async def test_the_audit_log_orders_writes_with_their_identity_and_versions(
    kubesim: KubeSim, kubeconfig_path: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "cm.json"
    manifest.write_text(
        json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}})
    )
    async with KubesimControl(kubesim.url) as control:
        await control.clear_audit()
        await asyncio.to_thread(
            kubectl, kubeconfig_path, "create", "--validate=false", "-f", str(manifest)
        )
        await asyncio.to_thread(kubectl, kubeconfig_path, "label", "configmap", "cfg", "a=b")
        await asyncio.to_thread(kubectl, kubeconfig_path, "delete", "configmap", "cfg")
        missing = await asyncio.to_thread(
            kubectl, kubeconfig_path, "delete", "configmap", "cfg", ok=False
        )
        assert missing.returncode != 0
        entries = [e for e in await control.audit_log() if e["resource"] == "configmaps"]
        writes = [e for e in entries if e["verb"] in ("create", "patch", "delete")]
        assert [(e["verb"], e["name"], e["code"]) for e in writes] == [
            ("create", None, 201),
            ("patch", "cfg", 200),
            ("delete", "cfg", 200),
            ("delete", "cfg", 404),
        ]
        assert all(e["user_agent"].startswith("kubectl/") for e in writes)
        # kubectl sends no bearer token over plain http: its identity is its user agent
        assert {e["user"] for e in writes} == {"anonymous"}
        versions = [int(e["resource_version"]) for e in writes[:3]]
        assert versions == sorted(versions)
        assert writes[3]["resource_version"] is None
        assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
        assert entries[0]["time"] <= entries[-1]["time"]
        later = {e["seq"] for e in await control.audit_log(since=writes[1]["seq"])}
        assert writes[2]["seq"] in later
        assert writes[1]["seq"] not in later
        assert min(later) == writes[1]["seq"] + 1
