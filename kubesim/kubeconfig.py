"""A kubeconfig for the simulator that kubectl and both Python clients accept."""

from __future__ import annotations

from pathlib import Path

import yaml

CONTEXT = "kubesim"
DEFAULT_TOKEN = "kubesim-dummy-token"  # noqa: S105 - kubesim checks no credentials


def kubeconfig(
    url: str, *, namespace: str = "default", token: str = DEFAULT_TOKEN
) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {"name": CONTEXT, "cluster": {"server": url, "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
    }


def write_kubeconfig(url: str, path: str | Path, *, token: str = DEFAULT_TOKEN) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig(url, token=token), sort_keys=False))
    target.chmod(0o600)
    return target
