"""Status bodies byte for byte as a real kube-apiserver writes them: `metav1.Status` field
order (details before code; details as name, group, kind, uid, causes), Go's HTML escaping
in strings, and the JSON encoder's trailing newline; as the official clients hand them on
(`ApiException.body`) and as kubectl prints them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes_asyncio import client

from kubesim import KubeSim
from kubesim.errors import ApiError, status_bytes
from tests.kubesim.conftest import deployment, kubectl, official_client

pytestmark = pytest.mark.integration


POD_NOT_FOUND = (
    b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
    b'"message":"pods \\"nope\\" not found","reason":"NotFound",'
    b'"details":{"name":"nope","kind":"pods"},"code":404}\n'
)
DEPLOYMENT_NOT_FOUND = (
    b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
    b'"message":"deployments.apps \\"nope\\" not found","reason":"NotFound",'
    b'"details":{"name":"nope","group":"apps","kind":"deployments"},"code":404}\n'
)
ALREADY_EXISTS = (
    b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
    b'"message":"deployments.apps \\"taken\\" already exists","reason":"AlreadyExists",'
    b'"details":{"name":"taken","group":"apps","kind":"deployments"},"code":409}\n'
)
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


async def test_not_found_bodies_are_the_apiservers_bytes(kubesim: KubeSim) -> None:
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=10) as http:
        pod = await http.get("/api/v1/namespaces/default/pods/nope")
        deploy = await http.get(f"{DEPLOYMENTS}/nope")
    assert pod.status_code == 404
    assert pod.content == POD_NOT_FOUND
    assert deploy.content == DEPLOYMENT_NOT_FOUND


async def test_invalid_and_conflict_bodies_keep_the_field_order(kubesim: KubeSim) -> None:
    kubesim.store.create(deployment("taken"), namespace="default")
    bad = deployment("Bad_Name")
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=10) as http:
        invalid = await http.post(DEPLOYMENTS, json=bad)
        exists = await http.post(DEPLOYMENTS, json=deployment("taken"))
    assert invalid.status_code == 422
    assert invalid.content.endswith(b"}\n")
    body = json.loads(invalid.content)
    assert list(body) == [
        "kind",
        "apiVersion",
        "metadata",
        "status",
        "message",
        "reason",
        "details",
        "code",
    ]
    assert list(body["details"]) == ["name", "group", "kind", "causes"]
    assert all(list(c) == ["reason", "message", "field"] for c in body["details"]["causes"])
    assert exists.status_code == 409
    assert exists.content == ALREADY_EXISTS


async def test_a_success_status_names_the_uid_after_the_kind(kubesim: KubeSim) -> None:
    created = kubesim.store.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone"}},
        namespace="default",
    )
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=10) as http:
        deleted = await http.delete("/api/v1/namespaces/default/configmaps/gone")
    assert deleted.status_code == 200
    uid = created["metadata"]["uid"].encode()
    assert deleted.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",'
        b'"details":{"name":"gone","kind":"configmaps","uid":"' + uid + b'"}}\n'
    )


def test_strings_are_escaped_as_go_escapes_them() -> None:
    error = ApiError(code=400, reason="BadRequest", message="a <b> & c\u2028d é")
    assert status_bytes(error.status()) == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"a \\u003cb\\u003e \\u0026 c\\u2028d \xc3\xa9","reason":"BadRequest",'
        b'"code":400}\n'
    )


#: AppsV1Api calls answered 404, 409 and 422 once a Deployment "taken" exists
FAILING: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("read_namespaced_deployment", ("nope", "default")),
    ("create_namespaced_deployment", ("default", deployment("taken"))),
    ("create_namespaced_deployment", ("default", deployment("Bad_Name"))),
)


def _sync_client_bodies(kubeconfig: Path) -> dict[int, bytes]:
    """The `kubernetes` (sync) client's ApiException.body for each of FAILING."""
    from kubernetes import client as sync_client

    apps: Any = sync_client.AppsV1Api(official_client(kubeconfig))
    bodies: dict[int, bytes] = {}
    for method, args in FAILING:
        with pytest.raises(sync_client.ApiException) as error:
            getattr(apps, method)(*args)
        body: Any = error.value.body  # the bytes it read, decoded as UTF-8
        bodies[error.value.status] = body.encode()
    return bodies


async def test_the_official_clients_hand_on_the_apiservers_bytes(
    kubesim: KubeSim, kubeconfig_path: Path, api: Any
) -> None:
    kubesim.store.create(deployment("taken"), namespace="default")
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=10) as http:
        invalid = (await http.post(DEPLOYMENTS, json=deployment("Bad_Name"))).content
    expected = {404: DEPLOYMENT_NOT_FOUND, 409: ALREADY_EXISTS, 422: invalid}
    assert b'"reason":"Invalid"' in invalid
    assert await asyncio.to_thread(_sync_client_bodies, kubeconfig_path) == expected
    # and kubernetes_asyncio, which decodes them too
    apps: Any = client.AppsV1Api(api)
    got: dict[int, bytes] = {}
    for method, args in FAILING:
        with pytest.raises(client.ApiException) as error:
            await getattr(apps, method)(*args)
        body: Any = error.value.body
        got[error.value.status] = body.encode()
    assert got == expected


@pytest.mark.kubectl
async def test_kubectl_prints_not_found_and_already_exists_as_from_a_real_server(
    kubesim: KubeSim, kubeconfig_path: Path, tmp_path: Path
) -> None:
    kubesim.store.create(deployment("taken"), namespace="default")
    manifest = tmp_path / "taken.json"
    manifest.write_text(json.dumps(deployment("taken")))

    async def stderr(*args: str) -> str:
        done = await asyncio.to_thread(kubectl, kubeconfig_path, *args, ok=False)
        assert done.returncode == 1
        return done.stderr

    assert await stderr("get", "deployment", "nope") == (
        'Error from server (NotFound): deployments.apps "nope" not found\n'
    )
    assert await stderr("delete", "pod", "nope") == (
        'Error from server (NotFound): pods "nope" not found\n'
    )
    assert await stderr("create", "-f", str(manifest)) == (
        f'Error from server (AlreadyExists): error when creating "{manifest}": '
        'deployments.apps "taken" already exists\n'
    )
