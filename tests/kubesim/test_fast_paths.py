"""The fast paths kubesim takes under load keep the apiserver's behaviour."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import yaml

from kubesim import KubeSim
from kubesim.decoding import load_yaml
from tests.kubesim.conftest import deployment


@pytest.mark.parametrize(
    "raw",
    [
        b'{"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}}',
        b'  {"apiVersion":"v1","kind":"ConfigMap","data":{"a":"1"}}\n',
        b"apiVersion: v1\nkind: ConfigMap\ndata:\n  a: '1'\n",
        b"{apiVersion: v1, kind: ConfigMap, data: {a: '1'}}",  # a YAML flow mapping, not JSON
    ],
)
def test_apply_bodies_decode_as_json_or_yaml(raw: bytes) -> None:
    assert load_yaml(raw) == {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}}


def test_a_body_that_is_neither_is_a_yaml_error() -> None:
    with pytest.raises(yaml.YAMLError):
        load_yaml(b"{a: [}")


async def test_controllers_never_change_a_stored_version_in_place(kubesim: KubeSim) -> None:
    """Lists and watches hand out stored dicts; a controller's write must make new ones."""
    store = kubesim.store
    kept: list[tuple[dict[str, Any], bytes]] = []
    store.storage.add_listener(lambda event: kept.append((event.obj, orjson.dumps(event.obj))))
    store.create(deployment("cow", gpus=1))
    store.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "cache", "namespace": "default"},
            "spec": {"resources": {"requests": {"storage": "1Gi"}}},
        }
    )
    pods = store.registry.by_kind("v1", "Pod")
    assert pods is not None

    async def running() -> bool:
        listed = store.list(pods, "default")["items"]
        return any((p.get("status") or {}).get("phase") == "Running" for p in listed)

    deadline = asyncio.get_running_loop().time() + 5
    while not await running():
        assert asyncio.get_running_loop().time() < deadline, "the pod never ran"
        await asyncio.sleep(0.02)
    kinds = {obj["kind"] for obj, _ in kept}
    assert {"Deployment", "Pod", "PersistentVolumeClaim"} <= kinds
    assert len(kept) >= 6  # pod created, bound, creating, started; deployment status; pvc bound
    for obj, encoded in kept:
        assert orjson.dumps(obj) == encoded, f"{obj['kind']} {obj['metadata']['name']} changed"
