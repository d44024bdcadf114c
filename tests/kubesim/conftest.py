"""kubesim test helpers: the plugin's fixtures plus kubernetes-asyncio clients."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import config

from tests.plugins.kubesim import kubeconfig_path, kubesim, kubesim_factory

__all__ = ["kubeconfig_path", "kubesim", "kubesim_factory"]


@pytest.fixture
async def api(kubeconfig_path: Path) -> AsyncIterator[Any]:
    api_client = await config.new_client_from_config(config_file=str(kubeconfig_path))
    async with api_client:
        yield api_client


def deployment(
    name: str,
    *,
    image: str = "vllm/vllm-openai:v0.9.0",
    gpus: int = 0,
    cpu: str = "1",
    replicas: int = 1,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    pod_labels = {"app": name, **(labels or {})}
    resources: dict[str, Any] = {"requests": {"cpu": cpu, "memory": "1Gi"}}
    if gpus:
        resources["requests"]["nvidia.com/gpu"] = str(gpus)
        resources["limits"] = {"nvidia.com/gpu": str(gpus)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "containers": [
                        {
                            "name": "vllm-openai",
                            "image": image,
                            "ports": [{"name": "serve", "containerPort": 8000}],
                            "env": [{"name": "A", "value": "1"}],
                            "resources": resources,
                        }
                    ]
                },
            },
        },
    }


#: whether the test running now carries `@pytest.mark.kubectl` (tests run one at a time)
_running_marked = {"kubectl": False}


@pytest.fixture(autouse=True)
def _kubectl_marker(request: pytest.FixtureRequest) -> Iterator[None]:
    _running_marked["kubectl"] = request.node.get_closest_marker("kubectl") is not None
    yield
    _running_marked["kubectl"] = False


def kubectl_binary() -> str:
    """The kubectl on PATH, for a test marked `kubectl` (so `-m kubectl` selects every test
    that runs it). A missing kubectl fails the test, never skips it: `make test` installs
    it first (`make kubectl`)."""
    assert _running_marked["kubectl"], "a test that runs kubectl carries @pytest.mark.kubectl"
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is not on PATH: `make kubectl` installs it (apt package `kubectl`)")
    return found


def kubectl(kubeconfig: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real kubectl against kubesim (blocking: call it through `asyncio.to_thread`)."""
    done = subprocess.run(
        [kubectl_binary(), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def official_client(kubeconfig: Path) -> Any:
    """A client of the official (synchronous) `kubernetes` package for kubesim."""
    from kubernetes import config as sync_config

    new_client: Any = sync_config.new_client_from_config
    return new_client(config_file=str(kubeconfig))
