"""Metadata-only reads (client-go's metadata client): a Secret's name, labels and version
without its data, in the shapes and with the refusals of the apiserver."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from kubesim import KubeSim

pytestmark = pytest.mark.integration

META = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
META_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
SECRETS = "/api/v1/namespaces/default/secrets"
VALUE = "s3cr3t-value-never-shown"


def secret(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {"app": "x"}},
        "stringData": {"token": VALUE},
    }


async def test_lists_gets_and_watches_give_metadata_and_never_the_data(kubesim: KubeSim) -> None:
    kubesim.store.create(secret("meta-a"), namespace="default")
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=20) as http:
        listed = await http.get(SECRETS, headers={"Accept": META_LIST})
        one = await http.get(f"{SECRETS}/meta-a", headers={"Accept": META})
        events: list[Any] = []
        async with http.stream(
            "GET", SECRETS, params={"watch": "true", "timeoutSeconds": "10"},
            headers={"Accept": META},
        ) as resp:  # fmt: skip
            lines = resp.aiter_lines()
            events.append(json.loads(await anext(lines)))
            created = await http.post(SECRETS, json=secret("meta-b"))
            assert created.status_code == 201
            events.append(json.loads(await anext(lines)))
            assert (await http.delete(f"{SECRETS}/meta-b")).status_code == 200
            events.append(json.loads(await anext(lines)))

    assert listed.status_code == 200
    body = listed.json()
    assert (body["kind"], body["apiVersion"]) == ("PartialObjectMetadataList", "meta.k8s.io/v1")
    assert body["metadata"]["resourceVersion"]
    [item] = [i for i in body["items"] if i["metadata"]["name"] == "meta-a"]
    assert set(item) == {"kind", "apiVersion", "metadata"}
    assert item["kind"] == "PartialObjectMetadata"
    assert item["metadata"]["labels"] == {"app": "x"}
    assert one.status_code == 200
    assert one.json()["metadata"] == item["metadata"]
    assert set(one.json()) == {"kind", "apiVersion", "metadata"}
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "meta-a"),
        ("ADDED", "meta-b"),
        ("DELETED", "meta-b"),
    ]
    assert {e["object"]["kind"] for e in events} == {"PartialObjectMetadata"}
    for text in (listed.text, one.text, json.dumps(events)):
        assert VALUE not in text
        assert base64.b64encode(VALUE.encode()).decode() not in text
        assert '"data"' not in text


async def test_the_wrong_shape_for_a_list_or_an_object_is_not_acceptable(kubesim: KubeSim) -> None:
    kubesim.store.create(secret("meta-c"), namespace="default")
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=20) as http:
        as_item = await http.get(SECRETS, headers={"Accept": META})
        as_list = await http.get(f"{SECRETS}/meta-c", headers={"Accept": META_LIST})

    assert as_item.status_code == 406
    assert as_item.json()["reason"] == "NotAcceptable"
    assert as_item.json()["message"] == (
        "you requested PartialObjectMetadata, but the requested object is a list (*core.SecretList)"
    )
    assert as_list.status_code == 406
    assert "is not a list (*core.Secret)" in as_list.json()["message"]
    assert VALUE not in as_item.text + as_list.text
