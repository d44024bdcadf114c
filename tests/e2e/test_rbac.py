"""deploy/'s RBAC grants each service exactly what it really asks kubesim for, and no more.

On kubesim every service presents a token of its own (see `LocalStack.service_kubeconfig`),
so kubesim's audit tells who asked for what. A model with every optional object (token,
PVC, autoscaler, ServiceMonitor) is created and deleted, which exercises every call.
"""

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from jan_models.stack import LocalStack, service_token
from tests.e2e.test_walkthrough import MODELS, body, follow_status
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

DEPLOY = Path(__file__).parents[2] / "deploy"
MODELS_NAMESPACE = "jan-models"


@dataclass(frozen=True)
class Grant:
    api_group: str
    resource: str
    verb: str
    namespace: str | None  # None: a ClusterRole, valid in every namespace and cluster-wide


def grants_of(service_account: str) -> set[Grant]:
    documents = [
        doc
        for path in sorted(DEPLOY.glob("rbac-*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    roles = {
        (doc["kind"], doc["metadata"]["name"]): doc
        for doc in documents
        if doc["kind"] in ("Role", "ClusterRole")
    }
    grants: set[Grant] = set()
    for binding in (
        doc for doc in documents if doc["kind"] in ("RoleBinding", "ClusterRoleBinding")
    ):
        if not any(s["name"] == service_account for s in binding["subjects"]):
            continue
        role = roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
        namespace = role["metadata"].get("namespace") if role["kind"] == "Role" else None
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        grants.add(Grant(group, resource, verb, namespace))
    return grants


def allowed(record: dict[str, str | None], grants: set[Grant]) -> bool:
    return any(
        grant.api_group == record["api_group"]
        and grant.resource == record["resource"]
        and grant.verb == record["verb"]
        and (grant.namespace is None or grant.namespace == record["namespace"])
        for grant in grants
    )


async def test_rbac_covers_every_call_of_each_service_and_no_more(
    api: httpx.AsyncClient, stack: LocalStack
) -> None:
    created = await api.post(MODELS, json=body("rbac-probe"))
    assert created.status_code == 201, created.text
    public_id = created.json()["model"]["public_id"]
    # A crash-looping model too: the inventory reads its crashed container's log.
    crashing = await api.post(MODELS, json=body("rbac-crash", image="vllm/vllm-openai:crashloop"))
    assert crashing.status_code == 201, crashing.text
    crashing_id = crashing.json()["model"]["public_id"]
    assert (await follow_status(api, public_id, until="running"))[-1] == "running"
    assert (await follow_status(api, crashing_id, until="failed"))[-1] == "failed"

    async def log_read() -> bool:
        model = (await api.get(f"{MODELS}/{crashing_id}")).json()["model"]
        return "OutOfMemoryError" in (model.get("status_reason") or "")

    await eventually(log_read, within=30)
    for model_id in (public_id, crashing_id):
        assert (await api.delete(f"{MODELS}/{model_id}")).status_code == 204

    async def gone() -> bool:
        answers = [(await api.get(f"{MODELS}/{m}")).status_code for m in (public_id, crashing_id)]
        return answers == [404, 404]

    await eventually(gone, within=60)
    async with httpx.AsyncClient(base_url=stack.kubesim_url) as kubesim:
        audit = (await kubesim.get("/_kubesim/audit")).json()

    assert not [r for r in audit if r["user"] == service_token("api")], (
        "the api must never call Kubernetes"
    )
    problems: list[str] = []
    for service in ("deployer", "inventory"):
        grants = grants_of(f"jan-models-{service}")
        calls = [r for r in audit if r["user"] == service_token(service)]
        assert calls, f"{service} made no call at all"
        problems += [
            f"{service} calls what deploy/ does not grant: "
            f"{r['verb']} {r['api_group']}/{r['resource']} in {r['namespace']}"
            for r in calls
            if not allowed(r, grants)
        ]
        problems += [
            f"deploy/ grants {service} more than it uses: {g}"
            for g in grants
            if not any(allowed(r, {g}) for r in calls)
        ]
    assert not problems, "\n".join(sorted(problems))
