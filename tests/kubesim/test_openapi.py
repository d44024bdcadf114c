"""`/openapi/v2` and `/openapi/v3`: kubectl validates, explains and applies without
`--validate=false`, CRDs included; the documents are whole (every reference resolves)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kubesim import KubeSim
from kubesim.openapi import V2_PROTOBUF
from tests.kubesim.conftest import kubectl, official_client

pytestmark = pytest.mark.integration

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: "25%"}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
        readinessProbe: {httpGet: {path: /, port: 80}}
        resources: {requests: {cpu: 100m, memory: 64Mi}}
"""
CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the widget should be.
            required: [size]
            properties:
              size: {type: integer, description: How big the widget is.}
              color: {type: string}
"""
WIDGET = (
    "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3, %s: red}\n"
)


def _get(kubeconfig: Path, path: str, accept: str = "application/json") -> tuple[int, str, bytes]:
    """GET through the official client's transport: status, content type, body."""
    from urllib.parse import parse_qsl

    path, _, query = path.partition("?")
    with official_client(kubeconfig) as api:
        method, url, headers, _body, _post = api.param_serialize(
            "GET",
            path,
            query_params=parse_qsl(query),
            header_params={"Accept": accept},
            auth_settings=["BearerToken"],
        )
        resp = api.call_api(method, url, header_params=headers)
        return resp.status, resp.getheader("Content-Type") or "", resp.read()


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


class Kubectl:
    """kubectl against one kubesim, from async tests; `stdin` goes through a file."""

    def __init__(self, kubeconfig: Path, tmp_path: Path) -> None:
        self.kubeconfig, self.tmp_path = kubeconfig, tmp_path

    async def run(self, *args: str, stdin: str | None = None) -> Any:
        if stdin is not None:
            manifest = self.tmp_path / f"stdin-{abs(hash(stdin))}.yaml"
            manifest.write_text(stdin)
            args = tuple(str(manifest) if a == "-" else a for a in args)
        return await asyncio.to_thread(kubectl, self.kubeconfig, *args, ok=False)

    async def __call__(self, *args: str, stdin: str | None = None) -> str:
        done = await self.run(*args, stdin=stdin)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return str(done.stdout)


@pytest.mark.kubectl
async def test_kubectl_validates_and_explains(kubeconfig_path: Path, tmp_path: Path) -> None:
    kubectl = Kubectl(kubeconfig_path, tmp_path)
    manifest = tmp_path / "d.yaml"
    manifest.write_text(DEPLOYMENT.replace("replicas: 2", "replica: 2"))
    typo = await kubectl.run("apply", "-f", str(manifest))
    assert typo.returncode != 0
    assert 'unknown field "replica" in io.k8s.api.apps.v1.DeploymentSpec' in typo.stderr
    assert "deployments" not in await kubectl("get", "deploy")

    manifest.write_text(DEPLOYMENT)
    assert "deployment.apps/web created" in await kubectl("create", "-f", str(manifest))
    assert "deployment.apps/web replaced" in await kubectl("replace", "-f", str(manifest))
    assert "deployment.apps/web configured" in await kubectl("apply", "-f", str(manifest))
    assert "serverside-applied" in await kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", str(manifest)
    )
    explained = await kubectl("explain", "deployment.spec")
    assert "KIND:       Deployment" in explained
    assert "replicas\t<integer>" in explained
    assert "Number of desired pods." in explained
    containers = await kubectl("explain", "pods.spec.containers")
    assert "name\t<string> -required-" in containers
    bad_pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{image: x}]}\n"
    missing = await kubectl.run("apply", "-f", "-", stdin=bad_pod)
    assert 'missing required field "name" in io.k8s.api.core.v1.Container' in missing.stderr


@pytest.mark.kubectl
async def test_crd_schemas_are_published(kubeconfig_path: Path, tmp_path: Path) -> None:
    kubectl = Kubectl(kubeconfig_path, tmp_path)
    assert "created" in await kubectl("apply", "-f", "-", stdin=CRD)
    typo = await kubectl.run("apply", "-f", "-", stdin=WIDGET % "colour")
    assert 'unknown field "colour" in com.example.v1.Widget.spec' in typo.stderr
    assert "widget.example.com/w1 created" in await kubectl(
        "apply", "-f", "-", stdin=WIDGET % "color"
    )
    explained = await kubectl("explain", "widget.spec")
    assert "How big the widget is." in explained
    assert "size\t<integer> -required-" in explained
    assert "deleted" in await kubectl("delete", "crd", "widgets.example.com")
    index = await asyncio.to_thread(_get, kubeconfig_path, "/openapi/v3")
    assert b"apis/example.com/v1" not in index[2]


async def test_documents_are_whole(kubesim: KubeSim, kubeconfig_path: Path) -> None:
    import orjson

    status, ctype, body = await asyncio.to_thread(_get, kubeconfig_path, "/openapi/v3")
    assert status == 200
    paths = orjson.loads(body)["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/apiextensions.k8s.io/v1"} <= set(paths)
    for gv, entry in paths.items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{gv}?hash=")
        status, ctype, body = await asyncio.to_thread(_get, kubeconfig_path, url)
        assert status == 200
        assert ctype.startswith("application/json")
        doc = orjson.loads(body)
        schemas = doc["components"]["schemas"]
        missing = {r for r in _refs(doc) if r.rpartition("/")[2] not in schemas}
        assert not missing, f"{gv}: dangling references {missing}"
        kinds = {
            (g["group"], g["version"], g["kind"])
            for s in schemas.values()
            for g in s.get("x-kubernetes-group-version-kind", [])
        }
        group, _, version = gv.removeprefix("apis/").removeprefix("api/").rpartition("/")
        for rt in kubesim.store.registry.in_group_version(group, version):
            assert (group, version, rt.kind) in kinds, f"{gv}: no schema for {rt.kind}"

    status, ctype, body = await asyncio.to_thread(_get, kubeconfig_path, "/openapi/v2")
    v2 = orjson.loads(body)
    deployment = v2["definitions"]["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "version": "v1", "kind": "Deployment"}
    ]
    assert not {r for r in _refs(v2) if r.rpartition("/")[2] not in v2["definitions"]}
    accept = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    status, ctype, body = await asyncio.to_thread(_get, kubeconfig_path, "/openapi/v2", accept)
    assert status == 200
    assert ctype == V2_PROTOBUF
    assert body.startswith(b"\n\x032.0")
    assert b"io.k8s.api.apps.v1.Deployment" in body
    status, _, _ = await asyncio.to_thread(_get, kubeconfig_path, "/openapi/v3/apis/nope/v1")
    assert status == 404
