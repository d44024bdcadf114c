"""The audit records each request as RBAC would see it: user, verb, group, resource."""

from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes_asyncio import client, config

from kubesim import KubeSim
from tests.kubesim.conftest import deployment

pytestmark = pytest.mark.integration


async def test_requests_are_recorded_per_token_with_their_rbac_verb(
    kubesim: KubeSim, tmp_path: Path
) -> None:
    kubeconfig = kubesim.write_kubeconfig(tmp_path / "robot", token="robot")
    async with await config.new_client_from_config(config_file=str(kubeconfig)) as api_client:
        apps: Any = client.AppsV1Api(api_client)
        await apps.create_namespaced_deployment("default", deployment("audited"))
        await apps.read_namespaced_deployment("audited", "default")
        await apps.list_deployment_for_all_namespaces()
        await apps.patch_namespaced_deployment_scale(
            "audited", "default", {"spec": {"replicas": 2}}
        )
        await apps.delete_collection_namespaced_deployment("default", label_selector="app=audited")

    seen = {
        (r.verb, r.api_group, r.resource, r.namespace) for r in kubesim.api.audit.for_user("robot")
    }

    assert seen == {
        ("create", "apps", "deployments", "default"),
        ("get", "apps", "deployments", "default"),
        ("list", "apps", "deployments", None),
        ("patch", "apps", "deployments/scale", "default"),
        ("deletecollection", "apps", "deployments", "default"),
    }


async def test_the_audit_is_readable_and_clearable_over_http(
    kubesim: KubeSim, tmp_path: Path
) -> None:
    kubeconfig = kubesim.write_kubeconfig(tmp_path / "watcher", token="watcher")
    async with await config.new_client_from_config(config_file=str(kubeconfig)) as api_client:
        await client.CoreV1Api(api_client).list_node()

    async with httpx.AsyncClient(base_url=kubesim.url) as http:
        records = (await http.get("/_kubesim/audit")).json()
        assert {
            "user": "watcher",
            "verb": "list",
            "api_group": "",
            "resource": "nodes",
            "namespace": None,
            "count": 1,
        } in records
        await http.delete("/_kubesim/audit")
        assert (await http.get("/_kubesim/audit")).json() == []
