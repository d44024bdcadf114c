"""kubesim: a Kubernetes API simulator that speaks the real REST API over HTTP.

Unmodified clients (kubectl, kubernetes-asyncio, the official client) talk to it, in JSON,
YAML or (for built-in kinds, as kubectl's generators send them) protobuf. It seeds a
cluster from a scenario, runs simulated controllers (deployments and replica sets, jobs and
cron jobs, daemon sets, stateful sets, service accounts, scheduler, node lifecycle and taint
eviction, kubelet, PVC binder, garbage collector) that record Events
(`kubesim.events.record`), stores RBAC objects and answers `kubectl auth can-i` from them,
and can inject faults, random or targeted. See `KubeSim`.
"""

from kubesim.faults import FaultRule, Faults
from kubesim.scenario import (
    GenerateSpec,
    NodeSpec,
    Scenario,
    default_scenario,
    generate_nodes,
    load_scenario,
)
from kubesim.server import KubeSim

__all__ = [
    "FaultRule",
    "Faults",
    "GenerateSpec",
    "KubeSim",
    "NodeSpec",
    "Scenario",
    "default_scenario",
    "generate_nodes",
    "load_scenario",
]
