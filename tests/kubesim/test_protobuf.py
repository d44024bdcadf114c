"""kubectl's protobuf request bodies: decoded into the objects they encode.

The oracle for the end-to-end cases is kubectl itself: `--dry-run=client -o json` prints
the very object its typed client then sends as protobuf, so what kubesim stored must hold
every field of that JSON, with the same values."""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from kubesim import KubeSim, protobuf
from tests.kubesim.conftest import kubectl


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: int | bytes) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _envelope(api_version: bytes, kind: bytes, message: bytes) -> bytes:
    return b"k8s\x00" + _field(1, _field(1, api_version) + _field(2, kind)) + _field(2, message)


def test_delete_options_as_kubectl_drain_sends_them() -> None:
    options = (
        _field(1, 30)
        + _field(2, _field(1, b"uid-1") + _field(2, b"42"))
        + _field(4, b"Foreground")
        + _field(5, b"All")
    )
    assert protobuf.decode(_envelope(b"v1", b"DeleteOptions", options)) == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 30,
        "preconditions": {"uid": "uid-1", "resourceVersion": "42"},
        "propagationPolicy": "Foreground",
        "dryRun": ["All"],
    }


def test_the_types_that_are_not_objects_in_json() -> None:
    # a Pod: metadata (name, Go's "" namespace, creationTimestamp as Go's zero time, a
    # deletion time, a labels map), a container with a port, a resource quantity map and
    # a probe (its handler is an embedded struct: JSON inlines it; its port an IntOrString)
    go_zero = _field(1, -62135596800)
    deleted = _field(1, 1_700_000_000) + _field(2, 500_000_000)
    metadata = (
        _field(1, b"web")
        + _field(3, b"")
        + _field(8, go_zero)
        + _field(9, deleted)
        + _field(11, _field(1, b"app") + _field(2, b"web"))
    )
    quantity = _field(1, b"500m")
    http_get = _field(1, b"/health") + _field(2, _field(1, 1) + _field(3, b"serve"))
    probe = _field(1, _field(2, http_get)) + _field(2, 5)
    container = (
        _field(1, b"main")
        + _field(2, b"nginx")
        + _field(6, _field(3, 8080))
        + _field(8, _field(2, _field(1, b"cpu") + _field(2, quantity)))
        + _field(10, probe)
    )
    spec = _field(2, container) + _field(5, -1)  # containers, activeDeadlineSeconds
    pod = protobuf.decode(_envelope(b"v1", b"Pod", _field(1, metadata) + _field(2, spec)))
    assert pod["metadata"] == {
        "name": "web",
        "deletionTimestamp": "2023-11-14T22:13:20Z",
        "labels": {"app": "web"},
    }
    (main,) = pod["spec"]["containers"]
    assert main["ports"] == [{"containerPort": 8080}]
    assert main["resources"] == {"requests": {"cpu": "500m"}}
    assert main["livenessProbe"] == {
        "httpGet": {"path": "/health", "port": "serve"},
        "initialDelaySeconds": 5,
    }
    assert pod["spec"]["activeDeadlineSeconds"] == -1


def test_bytes_doubles_packed_and_unknown_fields() -> None:
    secret = (
        _field(1, _field(1, b"s"))
        + _field(2, _field(1, b"token") + _field(2, b"\x00\xffhi"))  # data: base64 in JSON
        + _field(99, b"a field from a newer Kubernetes")
    )
    assert protobuf.decode(_envelope(b"v1", b"Secret", secret)) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"token": "AP9oaQ=="},
    }
    # a packed repeated int32 (a Job's podFailurePolicy onExitCodes values)
    exit_codes = _field(2, b"In") + _field(3, _varint(1) + _varint(42))
    rule = _field(1, b"FailJob") + _field(2, exit_codes)
    job = _field(2, _field(11, _field(1, rule)))
    decoded = protobuf.decode(_envelope(b"batch/v1", b"Job", job))
    on_exit = decoded["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]
    assert on_exit == {"operator": "In", "values": [1, 42]}
    # fixed-width fields of numbers kubesim's tables do not know are skipped
    unknown = _varint(50 << 3 | 1) + struct.pack("<d", 0.5) + _varint(51 << 3 | 5) + b"\0" * 4
    toleration = _field(1, b"nvidia.com/gpu") + unknown
    assert protobuf.decode(_envelope(b"v1", b"Pod", _field(2, _field(22, toleration)))) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {"tolerations": [{"key": "nvidia.com/gpu"}]},
    }


def test_bodies_that_are_not_protobuf_are_refused_clearly() -> None:
    with pytest.raises(protobuf.ProtobufError, match="no k8s magic"):
        protobuf.decode(b"{}")
    with pytest.raises(protobuf.ProtobufError, match="truncated"):
        protobuf.decode(_envelope(b"v1", b"Pod", b"\x0a\xff"))
    with pytest.raises(protobuf.ProtobufError, match="no protobuf form"):
        protobuf.decode(_envelope(b"example.com/v1", b"Widget", b""))


CREATES: tuple[tuple[str, ...], ...] = (
    ("namespace", "proto-ns"),
    ("deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=8080"),
    ("configmap", "settings", "--from-literal=mode=fast", "--from-literal=level=3"),
    ("secret", "generic", "creds", "--from-literal=password=s3cr3t"),
    ("service", "clusterip", "front", "--tcp=80:8080"),
    ("serviceaccount", "builder"),
    ("job", "migrate", "--image=busybox:1.37", "--", "sh", "-c", "exit 0"),
    ("cronjob", "nightly", "--image=busybox:1.37", "--schedule=0 3 * * *"),
    ("role", "reader", "--verb=get,list", "--resource=pods"),
    ("rolebinding", "reads", "--role=reader", "--user=alice"),
    ("clusterrole", "viewer", "--verb=get", "--resource=nodes"),
    ("clusterrolebinding", "views", "--clusterrole=viewer", "--group=ops"),
)


def _subset_mismatches(wanted: Any, got: Any, path: str = "") -> list[str]:
    if isinstance(wanted, dict):
        if not isinstance(got, dict):
            return [f"{path}: {got!r} is not an object"]
        out = []
        for key, value in wanted.items():
            if value is None or value == {}:
                continue  # JSON's null creationTimestamp, empty status: nothing sent
            out += _subset_mismatches(value, got.get(key), f"{path}.{key}")
        return out
    if isinstance(wanted, list):
        if not isinstance(got, list) or len(got) != len(wanted):
            return [f"{path}: {got!r} != {wanted!r}"]
        return [
            m for i, w in enumerate(wanted) for m in _subset_mismatches(w, got[i], f"{path}[{i}]")
        ]
    return [] if wanted == got else [f"{path}: {got!r} != {wanted!r}"]


@pytest.mark.kubectl
async def test_kubectl_create_generators_send_protobuf_and_kubesim_stores_their_objects(
    kubeconfig_path: Path,
) -> None:
    for args in CREATES:
        cluster_scoped = args[0] in ("namespace", "clusterrole", "clusterrolebinding")
        namespace = () if cluster_scoped else ("-n", "default")
        dry = await asyncio.to_thread(
            kubectl,
            kubeconfig_path,
            "create",
            *namespace,
            "--dry-run=client",
            "-o",
            "json",
            *args,
        )
        wanted = json.loads(dry.stdout)
        created = await asyncio.to_thread(
            kubectl, kubeconfig_path, "create", *namespace, "-v=8", "-o", "json", *args
        )
        assert "Content-Type: application/vnd.kubernetes.protobuf" in created.stderr, args
        got = json.loads(created.stdout)
        assert _subset_mismatches(wanted, got) == [], args
    secret = await asyncio.to_thread(
        kubectl, kubeconfig_path, "get", "secret", "creds", "-o", "jsonpath={.data.password}"
    )
    assert secret.stdout == "czNjcjN0"


async def test_a_custom_resource_in_protobuf_is_415_as_on_a_real_server(kubesim: KubeSim) -> None:
    import aiohttp

    body = _envelope(b"autoscaling.aibrix.ai/v1alpha1", b"PodAutoscaler", _field(1, b""))
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{kubesim.url}/apis/autoscaling.aibrix.ai/v1alpha1/namespaces/default/podautoscalers",
            data=body,
            headers={"Content-Type": protobuf.MEDIA_TYPE},
        ) as response,
    ):
        assert response.status in (404, 415)
