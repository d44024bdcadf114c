"""A kubeconfig for the simulator that kubectl and both Python clients accept."""

from __future__ import annotations

from pathlib import Path

import yaml

CONTEXT = "kubesim"


def kubeconfig(url: str, *, namespace: str = "default") -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {"name": CONTEXT, "cluster": {"server": url, "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": CONTEXT, "user": {"token": "kubesim-dummy-token"}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
    }


def write_kubeconfig(url: str, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig(url), sort_keys=False))
    target.chmod(0o600)
    return target
