"""The fast paths kubesim takes under load keep the apiserver's behaviour."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import orjson
import pytest
import yaml

from kubesim import KubeSim, fieldsets
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


def _apply(kubesim: KubeSim, body: dict[str, Any]) -> dict[str, Any]:
    rt = kubesim.store.resource_for(body)
    obj, _ = kubesim.store.patch(
        rt,
        "default",
        body["metadata"]["name"],
        orjson.dumps(body),
        patch_type="apply",
        field_manager="jan-models",
        force=True,
    )
    return obj


async def test_a_no_op_apply_keeps_the_resource_version(
    kubesim: KubeSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "same", "namespace": "default", "labels": {"a": "1"}},
        "data": {"k": "v"},
    }
    first = _apply(kubesim, config)
    kubesim.storage.revision += 10  # as if much else was written since, and time went on:
    monkeypatch.setattr(fieldsets, "now_iso", lambda: "2031-01-01T00:00:00Z")
    again = _apply(kubesim, config)
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == first["metadata"]["managedFields"]
    stored = kubesim.store.find(kubesim.store.resource_for(config), "default", "same")
    assert stored is not None
    assert stored["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    changed = _apply(kubesim, {**config, "data": {"k": "w"}})
    assert int(changed["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert changed["data"] == {"k": "w"}
    dropped = _apply(kubesim, {**config, "metadata": {"name": "same", "namespace": "default"}})
    assert "labels" not in dropped["metadata"] or not dropped["metadata"]["labels"]
    assert int(dropped["metadata"]["resourceVersion"]) > int(changed["metadata"]["resourceVersion"])


@pytest.mark.parametrize(
    "obj",
    [
        deployment("tree", gpus=2, labels={"x": "y"}),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s", "labels": {"a": "1"}, "annotations": {"b": "2"}},
            "spec": {
                "selector": {"app": "s"},
                "ports": [{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}],
                "args": [{"no": "merge key"}],
                "empty": {},
                "items": [],
            },
        },
    ],
)
def test_the_fields_tree_is_the_tree_of_the_field_paths(obj: dict[str, Any]) -> None:
    expected = fieldsets.to_fields_v1(fieldsets.object_fields(obj))
    built = fieldsets.object_fields_v1(obj)
    assert built == expected
    assert orjson.dumps(built) == orjson.dumps(expected)  # same key order as well


def _changes(base: dict[str, Any]) -> list[dict[str, Any]]:
    """Edits a PATCH or a controller makes: a value, a label, a container added, removed,
    reordered or changed inside, a status appearing, metadata the managers do not own."""
    edits: list[dict[str, Any]] = []
    for edit in range(9):
        new = copy.deepcopy(base)
        spec, meta = new["spec"], new["metadata"]
        containers = spec["template"]["spec"]["containers"]
        if edit == 0:
            spec["replicas"] = 3
        elif edit == 1:
            meta.setdefault("labels", {})["team"] = "x"
            meta.setdefault("annotations", {})["bench/i"] = "7"
        elif edit == 2:
            containers.append({"name": "sidecar", "image": "busybox"})
        elif edit == 3:
            containers[0]["image"] = "vllm/vllm-openai:v0.11.0"
            containers[0]["env"] = [{"name": "A", "value": "1"}]
        elif edit == 4:
            containers.insert(0, {"name": "first", "image": "busybox"})
        elif edit == 5:
            new["status"] = {"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]}
        elif edit == 6:
            meta["resourceVersion"] = "999"  # not owned
        elif edit == 7:
            spec["template"]["spec"]["containers"] = [{"name": "other", "image": "busybox"}]
        else:
            del spec["template"]["metadata"]
        edits.append(new)
    return edits


def test_changed_fields_are_the_fields_whose_value_differs() -> None:
    base = deployment("fields", gpus=1)
    base["metadata"]["resourceVersion"] = "5"
    for new in _changes(base):
        for old, changed in ((base, new), (new, base)):
            expected = {
                path
                for path in fieldsets.object_fields(changed)
                if fieldsets.get_path(old, path) != fieldsets.get_path(changed, path)
            }
            assert fieldsets.changed_fields(old, changed) == expected
