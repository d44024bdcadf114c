"""Status bodies byte for byte as a real kube-apiserver writes them: `metav1.Status` field
order (details before code; details as name, group, kind, uid, causes), Go's HTML escaping
in strings, and the JSON encoder's trailing newline."""

from __future__ import annotations

import json

import httpx
import pytest

from kubesim import KubeSim
from kubesim.errors import ApiError, status_bytes
from tests.kubesim.conftest import deployment

pytestmark = pytest.mark.integration


async def test_not_found_bodies_are_the_apiservers_bytes(kubesim: KubeSim) -> None:
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=10) as http:
        pod = await http.get("/api/v1/namespaces/default/pods/nope")
        deploy = await http.get("/apis/apps/v1/namespaces/default/deployments/nope")
    assert pod.status_code == 404
    assert pod.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"pods \\"nope\\" not found","reason":"NotFound",'
        b'"details":{"name":"nope","kind":"pods"},"code":404}\n'
    )
    assert deploy.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"deployments.apps \\"nope\\" not found","reason":"NotFound",'
        b'"details":{"name":"nope","group":"apps","kind":"deployments"},"code":404}\n'
    )


async def test_invalid_and_conflict_bodies_keep_the_field_order(kubesim: KubeSim) -> None:
    kubesim.store.create(deployment("taken"), namespace="default")
    bad = deployment("Bad_Name")
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=10) as http:
        invalid = await http.post("/apis/apps/v1/namespaces/default/deployments", json=bad)
        exists = await http.post(
            "/apis/apps/v1/namespaces/default/deployments", json=deployment("taken")
        )
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
    assert exists.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"deployments.apps \\"taken\\" already exists","reason":"AlreadyExists",'
        b'"details":{"name":"taken","group":"apps","kind":"deployments"},"code":409}\n'
    )


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
