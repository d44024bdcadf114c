"""Answers as a real API server gives them: Service names as DNS-1035 labels, and what
DELETE returns (the object, or a Status), through the official client and kubectl."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.kubesim.conftest import kubectl, official_client

pytestmark = pytest.mark.integration

DNS1035 = (
    'Service "3b-coder" is invalid: metadata.name: Invalid value: "3b-coder": a DNS-1035 '
    "label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def _service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 8000, "targetPort": 8000}]},
    }


@pytest.mark.kubectl
async def test_service_names_are_dns_1035_labels(kubeconfig_path: Path, tmp_path: Path) -> None:
    def attempt() -> tuple[int, dict[str, Any], Any]:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        with official_client(kubeconfig_path) as api:
            core: Any = client.CoreV1Api(api)
            try:
                core.create_namespaced_service("default", _service("3b-coder"))
            except ApiException as exc:
                refused = (exc.status, json.loads(exc.body or "{}"))
            namespace = core.create_namespace({"metadata": {"name": "3b-coder"}})
            return (*refused, namespace)

    status, body, namespace = await asyncio.to_thread(attempt)
    assert status == 422
    assert body["reason"] == "Invalid"
    assert body["message"] == DNS1035
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    # namespaces stay RFC 1123 labels, which may start with a digit
    assert namespace.metadata.name == "3b-coder"
    # and through kubectl from a manifest
    for name, wanted in (("3b-coder", f"The {DNS1035}"), ("a" * 64, "no more than 63 characters")):
        manifest = tmp_path / f"{name[:8]}.json"
        manifest.write_text(json.dumps(_service(name)))
        done = await asyncio.to_thread(
            kubectl, kubeconfig_path, "create", "--validate=false", "-f", str(manifest), ok=False
        )
        assert done.returncode != 0
        assert wanted in done.stderr


async def test_delete_answers_the_object_or_a_status_as_a_real_server(
    kubeconfig_path: Path,
) -> None:
    def create_and_delete() -> dict[str, Any]:
        from kubernetes import client

        with official_client(kubeconfig_path) as api:
            core: Any = client.CoreV1Api(api)
            storage: Any = client.StorageV1Api(api)
            core.create_namespaced_service("default", _service("coder"))
            core.create_namespaced_config_map("default", {"metadata": {"name": "settings"}})
            core.create_namespaced_persistent_volume_claim(
                "default",
                {
                    "metadata": {"name": "cache"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                },
            )
            storage.create_storage_class(
                {"metadata": {"name": "fast"}, "provisioner": "example.com/fast"}
            )
            return {
                "service": core.delete_namespaced_service("coder", "default"),
                "configmap": core.delete_namespaced_config_map("settings", "default"),
                "pvc": core.delete_namespaced_persistent_volume_claim("cache", "default"),
                "storageclass": storage.delete_storage_class("fast"),
                "left": [s.metadata.name for s in core.list_namespaced_service("default").items],
            }

    answers = await asyncio.to_thread(create_and_delete)
    assert type(answers["service"]).__name__ == "V1Service"
    assert answers["service"].metadata.name == "coder"
    assert answers["service"].spec.ports[0].port == 8000
    assert "coder" not in answers["left"]
    # the client declares these answers as plain objects
    assert answers["configmap"]["kind"] == "Status"
    assert answers["configmap"]["status"] == "Success"
    assert answers["configmap"]["details"]["name"] == "settings"
    assert answers["pvc"].metadata.name == "cache"
    assert answers["storageclass"].metadata.name == "fast"
