"""Verbs, status bodies, patches, SSA and CRDs through kubernetes-asyncio over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim import KubeSim
from tests.kubesim.conftest import deployment

pytestmark = pytest.mark.integration


def _status(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body or "{}")
    return body


async def _replace_fresh(apps: Any, name: str, change: Callable[[Any], None]) -> Any:
    """Read, change, replace; again on 409, as a client must while a controller writes
    the Deployment's status between our read and our write."""
    for _ in range(10):
        current = await apps.read_namespaced_deployment(name, "default")
        change(current)
        try:
            return await apps.replace_namespaced_deployment(name, "default", current)
        except ApiException as exc:
            if exc.status != 409:
                raise
    raise AssertionError("replace kept conflicting")


async def test_create_get_list_update_delete(api: Any) -> None:
    apps: Any = client.AppsV1Api(api)
    created = await apps.create_namespaced_deployment("default", deployment("m1"))
    meta = created.metadata
    assert meta.uid
    assert meta.resource_version
    assert meta.generation == 1
    assert meta.creation_timestamp
    got = await apps.read_namespaced_deployment("m1", "default")
    assert got.metadata.uid == meta.uid
    listed = await apps.list_deployment_for_all_namespaces()
    assert listed.metadata.resource_version
    assert [d.metadata.name for d in listed.items] == ["m1"]

    labelled = await _replace_fresh(apps, "m1", lambda d: setattr(d.metadata, "labels", {"x": "y"}))
    assert labelled.metadata.generation == 1  # metadata only
    scaled = await _replace_fresh(apps, "m1", lambda d: setattr(d.spec, "replicas", 2))
    assert scaled.metadata.generation == 2
    with pytest.raises(ApiException) as err:
        await apps.replace_namespaced_deployment("m1", "default", labelled)  # stale rv
    assert err.value.status == 409
    assert _status(err.value)["reason"] == "Conflict"

    await apps.delete_namespaced_deployment("m1", "default")
    with pytest.raises(ApiException) as err:
        await apps.read_namespaced_deployment("m1", "default")
    status = _status(err.value)
    assert status["kind"] == "Status"
    assert status["reason"] == "NotFound"
    assert status["code"] == 404
    assert status["message"] == 'deployments.apps "m1" not found'


async def test_status_bodies(api: Any) -> None:
    apps: Any = client.AppsV1Api(api)
    core: Any = client.CoreV1Api(api)
    await apps.create_namespaced_deployment("default", deployment("dup"))
    with pytest.raises(ApiException) as err:
        await apps.create_namespaced_deployment("default", deployment("dup"))
    assert err.value.status == 409
    assert _status(err.value)["reason"] == "AlreadyExists"

    with pytest.raises(ApiException) as err:
        await apps.create_namespaced_deployment("nope", deployment("x"))
    assert err.value.status == 404
    assert _status(err.value)["message"] == 'namespaces "nope" not found'

    with pytest.raises(ApiException) as err:
        await apps.create_namespaced_deployment("default", deployment("bad", cpu="lots"))
    status = _status(err.value)
    assert err.value.status == 422
    assert status["reason"] == "Invalid"
    assert (
        status["details"]["causes"][0]["field"]
        == "spec.template.spec.containers[0].resources.requests[cpu]"
    )

    with pytest.raises(ApiException) as err:
        await core.create_namespace({"metadata": {"name": "Bad_Name"}})
    assert err.value.status == 422


async def test_status_only_through_subresource(api: Any) -> None:
    core: Any = client.CoreV1Api(api)
    svc = {"metadata": {"name": "s"}, "spec": {"ports": [{"name": "serve", "port": 8000}]}}
    created = await core.create_namespaced_service("default", svc)
    assert created.spec.cluster_ip
    assert created.spec.ports[0].target_port == 8000
    body = {"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}
    patched = await core.patch_namespaced_service("s", "default", body)
    assert not patched.status.load_balancer.ingress
    patched = await core.patch_namespaced_service_status("s", "default", body)
    assert patched.status.load_balancer.ingress[0].ip == "1.2.3.4"


async def test_patch_flavours(api: Any) -> None:
    apps: Any = client.AppsV1Api(api)
    await apps.create_namespaced_deployment("default", deployment("p"))
    strategic = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "vllm-openai", "env": [{"name": "B", "value": "2"}]}]
                }
            }
        }
    }
    d = await apps.patch_namespaced_deployment(
        "p", "default", strategic, _content_type="application/strategic-merge-patch+json"
    )
    container = d.spec.template.spec.containers[0]
    assert [e.name for e in container.env] == ["A", "B"]
    assert container.image
    d = await apps.patch_namespaced_deployment(
        "p",
        "default",
        {"metadata": {"labels": {"m": "1"}}},
        _content_type="application/merge-patch+json",
    )
    assert d.metadata.labels == {"m": "1"}
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 0}]
    d = await apps.patch_namespaced_deployment(
        "p", "default", ops, _content_type="application/json-patch+json"
    )
    assert d.spec.replicas == 0
    assert d.metadata.generation == 3
    scale = await apps.read_namespaced_deployment_scale("p", "default")
    assert scale.spec.replicas == 0


async def test_server_side_apply(api: Any) -> None:
    apps: Any = client.AppsV1Api(api)
    body = deployment("ssa")
    raw = await apps.patch_namespaced_deployment(
        "ssa",
        "default",
        body,
        field_manager="jan-models",
        _content_type="application/apply-patch+yaml",
        _preload_content=False,
    )
    assert raw.status == 201
    env = body["spec"]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "HF_TOKEN", "value": "t"})
    d = await apps.patch_namespaced_deployment(
        "ssa",
        "default",
        body,
        field_manager="jan-models",
        _content_type="application/apply-patch+yaml",
    )
    assert [e.name for e in d.spec.template.spec.containers[0].env] == ["A", "HF_TOKEN"]
    assert d.metadata.managed_fields[0].manager == "jan-models"
    assert d.metadata.managed_fields[0].operation == "Apply"
    env.pop()
    d = await apps.patch_namespaced_deployment(
        "ssa",
        "default",
        body,
        field_manager="jan-models",
        _content_type="application/apply-patch+yaml",
    )
    assert [e.name for e in d.spec.template.spec.containers[0].env] == ["A"]
    body["spec"]["replicas"] = 3
    with pytest.raises(ApiException) as err:
        await apps.patch_namespaced_deployment(
            "ssa",
            "default",
            body,
            field_manager="other",
            _content_type="application/apply-patch+yaml",
        )
    assert err.value.status == 409
    d = await apps.patch_namespaced_deployment(
        "ssa",
        "default",
        body,
        field_manager="other",
        force=True,
        _content_type="application/apply-patch+yaml",
    )
    assert d.spec.replicas == 3


async def test_finalizers_and_delete_collection(api: Any) -> None:
    core: Any = client.CoreV1Api(api)
    cm = {
        "metadata": {"name": "f", "finalizers": ["example.com/hold"], "labels": {"k": "v"}},
        "data": {"a": "1"},
    }
    await core.create_namespaced_config_map("default", cm)
    await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "g", "labels": {"k": "v"}}}
    )
    await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "h", "labels": {"k": "w"}}}
    )
    await core.delete_namespaced_config_map("f", "default")
    held = await core.read_namespaced_config_map("f", "default")
    assert held.metadata.deletion_timestamp is not None
    await core.patch_namespaced_config_map(
        "f",
        "default",
        {"metadata": {"finalizers": None}},
        _content_type="application/merge-patch+json",
    )
    await core.delete_collection_namespaced_config_map("default", label_selector="k=v")
    left = await core.list_namespaced_config_map("default")
    assert [c.metadata.name for c in left.items] == ["h"]


async def test_crd_lifecycle(api: Any, kubesim: KubeSim) -> None:
    ext: Any = client.ApiextensionsV1Api(api)
    custom: Any = client.CustomObjectsApi(api)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "singular": "widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }
    with pytest.raises(ApiException) as err:
        await custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert err.value.status == 404
    await ext.create_custom_resource_definition(crd)
    groups = await client.ApisApi(api).get_api_versions()
    assert "example.com" in [g.name for g in groups.groups]
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 1},
    }
    raw = await custom.patch_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "widgets",
        "w",
        widget,
        field_manager="t",
        _content_type="application/apply-patch+yaml",
        _preload_content=False,
    )
    assert raw.status == 201
    listed = await custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert listed["kind"] == "WidgetList"
    assert listed["items"][0]["spec"] == {"size": 1}
    pa = {
        "apiVersion": "autoscaling.aibrix.ai/v1alpha1",
        "kind": "PodAutoscaler",
        "metadata": {"name": "pa"},
        "spec": {"maxReplicas": 2},
    }
    await custom.create_namespaced_custom_object(
        "autoscaling.aibrix.ai", "v1alpha1", "default", "podautoscalers", pa
    )
    await ext.delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(ApiException) as err:
        await custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert err.value.status == 404


async def test_discovery_with_and_without_slash(kubesim: KubeSim) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for path in (
            "/api",
            "/api/",
            "/api/v1",
            "/apis",
            "/apis/apps/v1/",
            "/apis/apps",
            "/version",
        ):
            async with session.get(kubesim.url + path) as resp:
                assert resp.status == 200, path
        async with session.get(kubesim.url + "/apis/autoscaling.aibrix.ai/v1alpha1") as resp:
            names = [r["name"] for r in (await resp.json())["resources"]]
        assert "podautoscalers" in names
        assert "podautoscalers/status" in names


async def test_namespaces_and_all_namespaces(api: Any) -> None:
    core: Any = client.CoreV1Api(api)
    await core.create_namespace({"metadata": {"name": "jan-models"}})
    await core.create_namespaced_secret(
        "jan-models", {"metadata": {"name": "s"}, "stringData": {"k": "v"}}
    )
    await core.create_namespaced_secret("default", {"metadata": {"name": "s"}})
    secret = await core.read_namespaced_secret("s", "jan-models")
    assert secret.data == {"k": "dg=="}
    assert len((await core.list_secret_for_all_namespaces()).items) == 2
    assert len((await core.list_namespaced_secret("jan-models")).items) == 1
    await core.delete_namespace("jan-models")
    assert len((await core.list_secret_for_all_namespaces()).items) == 1
