"""Scenarios: the simulated cluster's starting state, loaded from YAML.

A scenario lists namespaces, nodes (GPU nodes described as the NVIDIA GPU Operator
publishes them), storage classes, CRDs (short form or full manifests), extra objects, the
image patterns that fail, what containers print (`logs:`), and optionally `generate:` for thousands of synthetic nodes.
"""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

Obj = dict[str, Any]


#: a Ready condition's reason and message for each status, as a kubelet (or the node
#: controller, for Unknown) writes them
READY_REASONS = {
    "True": ("KubeletReady", "kubelet is posting ready status"),
    "False": (
        "KubeletNotReady",
        "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady",
    ),
    "Unknown": ("NodeStatusUnknown", "Kubelet stopped posting node status."),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GpuSpec(_Model):
    product: str
    count: int = Field(ge=0)
    memory_mib: int = Field(ge=0)


class NodeSpec(_Model):
    name: str
    cpu: str = "16"
    memory: str = "64Gi"
    pods: int = 110
    ephemeral_storage: str = "200Gi"
    gpu: GpuSpec | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    unschedulable: bool = False
    #: the node's Ready condition: "False" is NotReady, "Unknown" an unreachable kubelet
    ready: Literal["True", "False", "Unknown"] = "True"
    #: `spec.taints` entries ({key, value, effect}) beside those the control plane adds
    taints: list[dict[str, str]] = Field(default_factory=list)


class StorageClassSpec(_Model):
    name: str
    provisioner: str = "rancher.io/local-path"
    default: bool = False


class CrdSpec(_Model):
    group: str
    plural: str
    kind: str
    versions: list[str] = Field(default_factory=lambda: ["v1"])
    scope: str = "Namespaced"
    singular: str | None = None
    short_names: list[str] = Field(default_factory=list)
    status_subresource: bool = True


class LogSpec(_Model):
    """What containers whose image matches `image` (substring or glob) print."""

    image: str
    lines: list[str] = Field(default_factory=list)
    #: the last terminated container's output (shown for crash loops and `--previous`)
    previous: list[str] = Field(default_factory=list)


class GenerateSpec(_Model):
    count: int = Field(ge=0)
    gpu_share: float = Field(default=0.25, ge=0, le=1)
    prefix: str = "node"
    seed: int = 0
    gpus: list[GpuSpec] = Field(
        default_factory=lambda: [
            GpuSpec(product="NVIDIA-L4", count=1, memory_mib=23034),
            GpuSpec(product="NVIDIA-A100-SXM4-40GB", count=2, memory_mib=40960),
            GpuSpec(product="NVIDIA-H100-80GB-HBM3", count=8, memory_mib=81559),
        ]
    )


class Scenario(_Model):
    name: str = "custom"
    namespaces: list[str] = Field(default_factory=lambda: ["default", "kube-system"])
    nodes: list[NodeSpec] = Field(default_factory=list)
    storage_classes: list[StorageClassSpec] = Field(default_factory=list)
    crds: list[CrdSpec | Obj] = Field(default_factory=list)
    objects: list[Obj] = Field(default_factory=list)
    #: image substring (or glob) -> ImagePullBackOff | CrashLoopBackOff
    failing_images: dict[str, str] = Field(
        default_factory=lambda: {
            "does-not-exist": "ImagePullBackOff",
            "crashloop": "CrashLoopBackOff",
        }
    )
    generate: GenerateSpec | None = None
    #: seconds a deleted pod's containers take to exit (capped by its grace period)
    pod_termination_seconds: float = Field(default=1.0, ge=0)
    #: simulated container output for `kubectl logs` (built-in scripts otherwise)
    logs: list[LogSpec] = Field(default_factory=list)

    def all_nodes(self) -> list[NodeSpec]:
        return [*self.nodes, *(generate_nodes(self.generate) if self.generate else [])]


def generate_nodes(spec: GenerateSpec) -> list[NodeSpec]:
    rng = random.Random(spec.seed)  # noqa: S311 - reproducible layouts, not security
    nodes = []
    for i in range(spec.count):
        gpu = rng.choice(spec.gpus) if spec.gpus and rng.random() < spec.gpu_share else None
        nodes.append(
            NodeSpec(
                name=f"{spec.prefix}-{i:05d}",
                cpu=rng.choice(["16", "32", "64"]),
                memory=rng.choice(["64Gi", "128Gi", "256Gi"]),
                gpu=gpu,
            )
        )
    return nodes


def load_scenario(path: str | Path) -> Scenario:
    data = yaml.safe_load(Path(path).read_text())
    return Scenario.model_validate(data or {})


def default_scenario() -> Scenario:
    text = resources.files("kubesim").joinpath("scenarios/default.yaml").read_text()
    return Scenario.model_validate(yaml.safe_load(text))


# -- manifests -----------------------------------------------------------------------------


def node_manifest(node: NodeSpec) -> Obj:
    labels = {
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "kubesim",
        "type": "kubesim",
    }
    capacity = {
        "cpu": node.cpu,
        "memory": node.memory,
        "pods": str(node.pods),
        "ephemeral-storage": node.ephemeral_storage,
    }
    if node.gpu is not None:
        labels |= {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": node.gpu.product,
            "nvidia.com/gpu.memory": str(node.gpu.memory_mib),
            "nvidia.com/gpu.count": str(node.gpu.count),
            "nvidia.com/gpu.deploy.device-plugin": "true",
        }
        capacity["nvidia.com/gpu"] = str(node.gpu.count)
    labels |= node.labels
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": labels},
        "spec": ({"unschedulable": True} if node.unschedulable else {})
        | ({"taints": [dict(t) for t in node.taints]} if node.taints else {}),
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [
                {
                    "type": "Ready",
                    "status": node.ready,
                    "reason": READY_REASONS[node.ready][0],
                    "message": READY_REASONS[node.ready][1],
                },
                {
                    "type": "MemoryPressure",
                    "status": "False",
                    "reason": "KubeletHasSufficientMemory",
                },
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
            ],
            "addresses": [{"type": "Hostname", "address": node.name}],
            "nodeInfo": {
                "kubeletVersion": "v1.32.0-kubesim",
                "kubeProxyVersion": "v1.32.0-kubesim",
                "containerRuntimeVersion": "containerd://1.7.0",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "osImage": "kubesim",
                "kernelVersion": "6.0.0",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    }


def storage_class_manifest(sc: StorageClassSpec) -> Obj:
    meta: Obj = {"name": sc.name}
    if sc.default:
        meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": meta,
        "provisioner": sc.provisioner,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }


def crd_manifest(crd: CrdSpec | Obj) -> Obj:
    if isinstance(crd, dict):
        return crd
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    names: Obj = {
        "plural": crd.plural,
        "kind": crd.kind,
        "singular": crd.singular or crd.kind.lower(),
        "listKind": f"{crd.kind}List",
    }
    if crd.short_names:
        names["shortNames"] = crd.short_names
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{crd.plural}.{crd.group}"},
        "spec": {
            "group": crd.group,
            "scope": crd.scope,
            "names": names,
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": i == 0,
                    "schema": schema,
                    **({"subresources": {"status": {}}} if crd.status_subresource else {}),
                }
                for i, v in enumerate(crd.versions)
            ],
        },
    }


def manifests(scenario: Scenario) -> list[Obj]:
    """Everything the scenario seeds, in an order that satisfies dependencies."""
    objs: list[Obj] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        for ns in scenario.namespaces
    ]
    objs += [crd_manifest(c) for c in scenario.crds]
    objs += [storage_class_manifest(sc) for sc in scenario.storage_classes]
    objs += [node_manifest(n) for n in scenario.all_nodes()]
    objs += scenario.objects
    return objs
