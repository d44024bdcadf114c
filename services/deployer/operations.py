"""Applying and deleting one model's objects: the deployer's domain logic.

Apply is server-side apply of every object the command describes, then (from the
second generation on) removal of optional objects a feature switch turned off. The
objects are applied in two rounds of concurrent requests rather than one by one: first
what the Deployment refers to (Secret, PVC) with the Service, then the Deployment with
what refers to it (ServiceMonitor, PodAutoscaler). A model then costs two round trips
to the apiserver instead of five, and its pods still never wait on a missing volume. Delete
finds objects by the model-id label rather than by the names it would have given them,
so a model whose apply stopped half-way is cleaned up just as well, and it carries on
past a failing kind so one refusal does not leave the rest behind.

Only what carries the model's `jan-server.menlo.ai/model-id` label is ours. Before an
apply, one round of concurrent reads finds who owns each name: an object of the same name
without our label (someone else's Service, Secret, PVC...) ends the command `failed` with
reason `Conflict` before anything is written, and is left exactly as it was; prune skips
it too. Our own objects are applied with `force` (repairing fields someone changed by
hand); a name nobody holds is applied without it, so an object someone creates in the
moment between the read and the apply makes the apply conflict rather than be taken over.
"""

import asyncio
import logging
from collections.abc import Awaitable
from typing import Final, TypeVar

from pydantic import SecretStr

from services.deployer.failures import ClusterError, CommandRejectedError
from services.deployer.kinds import ALL_KINDS, DEPLOYMENT, POD, PVC, SECRET, SERVICE, Kind
from services.deployer.manifests import Manifest, ModelManifests, build_manifests, kind_of
from services.deployer.manifests.meta import cache_claim_name, secret_name
from services.deployer.ports import Cluster
from shared.commands import CreateModel, DeleteModel
from shared.crds import AIBRIX, SERVICE_MONITOR_CRD
from shared.errors import not_ours_message
from shared.events import ObjectRef
from shared.labels import MODEL_ID, model_selector
from shared.names import HANDOVER_MANAGER
from shared.secrets import TokenCipher, TokenDecryptionError

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_ROUND: Final = frozenset({SECRET.kind, PVC.kind, SERVICE.kind})
"""Applied before the Deployment: what its pods mount, and its Service."""


class DeleteIncompleteError(ClusterError):
    """Some kinds could not be deleted; the others were."""

    def __init__(self, failures: list[tuple[Kind, ClusterError]]) -> None:
        transient = [error for _, error in failures if error.transient]
        first = (transient or [error for _, error in failures])[0]
        message = "; ".join(
            f"{kind.kind}: {error.status} {error.message}" for kind, error in failures
        )
        super().__init__(status=first.status, reason=first.reason, message=message)
        self.failures = failures


def ref_of(manifest: Manifest) -> ObjectRef:
    return ObjectRef(
        api_version=manifest["apiVersion"], kind=manifest["kind"], name=manifest["metadata"]["name"]
    )


def _decrypt(command: CreateModel, cipher: TokenCipher) -> SecretStr | None:
    if command.hf_token_encrypted is None:
        return None
    try:
        return cipher.decrypt(command.hf_token_encrypted)
    except TokenDecryptionError as exc:
        raise CommandRejectedError(reason="TokenUndecryptable", message=str(exc)) from exc


def _decrypt_env(command: CreateModel, cipher: TokenCipher) -> dict[str, SecretStr]:
    if command.secret_env_encrypted is None:
        return {}
    try:
        return cipher.decrypt_values(command.secret_env_encrypted)
    except TokenDecryptionError as exc:
        raise CommandRejectedError(reason="TokenUndecryptable", message=str(exc)) from exc


async def _manifests(
    command: CreateModel, *, cluster: Cluster, cipher: TokenCipher
) -> ModelManifests:
    token = _decrypt(command, cipher)
    secret_env = _decrypt_env(command, cipher)
    if command.deployment_config.enable_autoscaling and not await cluster.crd_exists(AIBRIX.name):
        raise CommandRejectedError(reason="CrdMissing", message=AIBRIX.missing_message)
    return build_manifests(
        command,
        token=token,
        secret_env=secret_env,
        service_monitors=await cluster.crd_exists(SERVICE_MONITOR_CRD),
    )


async def applied_objects(
    command: CreateModel, *, cluster: Cluster, cipher: TokenCipher
) -> list[ObjectRef]:
    """What `apply_model` reports for this command, with no write: for a redelivery whose
    writes were made and whose event did not get out."""
    manifests = await _manifests(command, cluster=cluster, cipher=cipher)
    return [ref_of(manifest) for manifest in manifests.objects]


async def apply_model(
    command: CreateModel, *, cluster: Cluster, cipher: TokenCipher
) -> list[ObjectRef]:
    manifests = await _manifests(command, cluster=cluster, cipher=cipher)
    await cluster.ensure_namespace(command.namespace)
    ours = await _owned(command, cluster=cluster, manifests=manifests.objects)
    await _hand_over_replicas(command, cluster=cluster, manifests=manifests.objects, ours=ours)
    first = [m for m in manifests.objects if kind_of(m).kind in FIRST_ROUND]
    second = [m for m in manifests.objects if kind_of(m).kind not in FIRST_ROUND]
    for round_ in (first, second):
        await _gather(*(cluster.apply(m, force=ref_of(m) in ours) for m in round_))
    if command.generation > 1:
        await _prune(command, cluster=cluster, kinds=manifests.absent)
    return [ref_of(manifest) for manifest in manifests.objects]


async def _hand_over_replicas(
    command: CreateModel, *, cluster: Cluster, manifests: list[Manifest], ours: set[ObjectRef]
) -> None:
    """With an autoscaler, `spec.replicas` is left out of the applied Deployment. Server-side
    apply removes a field its only owner stops applying, which would reset the count to 1
    the moment a fixed-replica model becomes autoscaled; so first a second field manager
    applies the live count, co-owning it, as Kubernetes documents for handing replicas to
    an HPA. The value then stays until the autoscaler sets it (an update takes the field)."""
    if not command.deployment_config.enable_autoscaling:
        return
    deployment = next((m for m in manifests if kind_of(m) is DEPLOYMENT), None)
    if deployment is None or ref_of(deployment) not in ours:
        return
    meta = deployment["metadata"]
    replicas = await cluster.replicas_of(DEPLOYMENT, namespace=meta["namespace"], name=meta["name"])
    if replicas is None:
        return
    handover = {
        "apiVersion": deployment["apiVersion"],
        "kind": deployment["kind"],
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "spec": {"replicas": replicas},
    }
    await cluster.apply(handover, force=False, manager=HANDOVER_MANAGER)


async def _owned(
    command: CreateModel, *, cluster: Cluster, manifests: list[Manifest]
) -> set[ObjectRef]:
    """Which of the objects to apply exist already as this model's; raises on one that
    exists and is not (the first in apply order)."""
    refs = [ref_of(manifest) for manifest in manifests]
    found = await _gather(
        *(
            cluster.labels_of(kind_of(m), namespace=command.namespace, name=ref.name)
            for m, ref in zip(manifests, refs, strict=True)
        )
    )
    ours: set[ObjectRef] = set()
    for ref, labels in zip(refs, found, strict=True):
        if labels is None:
            continue
        if labels.get(MODEL_ID) != command.public_id:
            raise CommandRejectedError(
                reason="Conflict",
                message=not_ours_message(kind=ref.kind, namespace=command.namespace, name=ref.name),
            )
        ours.add(ref)
    return ours


async def _gather(*requests: Awaitable[T]) -> list[T]:
    """Run concurrently; every request finishes before the first failure is raised."""
    values: list[T] = []
    for result in await asyncio.gather(*requests, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result
        values.append(result)
    return values


def _object_name(command: CreateModel, kind: Kind) -> str:
    if kind is SECRET:
        return secret_name(command.name)
    if kind is PVC:
        return cache_claim_name(command.name)
    return command.name


async def _prune(command: CreateModel, *, cluster: Cluster, kinds: list[Kind]) -> None:
    """Remove what an earlier generation applied and this one turned off; absent is fine."""
    for kind in kinds:
        if kind.crd is not None and not await cluster.crd_exists(kind.crd):
            continue
        name = _object_name(command, kind)
        labels = await cluster.labels_of(kind, namespace=command.namespace, name=name)
        if labels is None:
            continue
        if labels.get(MODEL_ID) != command.public_id:
            log.warning(
                "not pruned: an object of that name is not this model's",
                extra={"public_id": command.public_id, "kind": kind.kind, "object": name},
            )
            continue
        if await cluster.delete(kind, namespace=command.namespace, name=name):
            log.info(
                "pruned object a feature switch turned off",
                extra={"public_id": command.public_id, "kind": kind.kind, "object": name},
            )


class DeleteUnfinishedError(ClusterError):
    """Every object is deleted, but some of the model's pods are still terminating."""

    def __init__(self, pods: list[str]) -> None:
        shown = ", ".join(sorted(pods)[:3]) + (", ..." if len(pods) > 3 else "")
        super().__init__(
            status=0,
            reason="PodsTerminating",
            message=f"{len(pods)} pod(s) still terminating: {shown}",
        )


async def delete_model(
    command: DeleteModel, *, cluster: Cluster, pod_wait: float = 2.0
) -> list[ObjectRef]:
    """Delete every object with the model's label; finished only when none is left, its
    pods included (they hold the GPUs until they exit). Pods still terminating after
    `pod_wait` seconds make it raise a transient error, so the command comes back."""
    removed: list[ObjectRef] = []
    failures: list[tuple[Kind, ClusterError]] = []
    selector = model_selector(command.public_id)
    for kind in ALL_KINDS:
        try:
            if kind.crd is not None and not await cluster.crd_exists(kind.crd):
                continue
            names = await cluster.list_names(kind, namespace=command.namespace, selector=selector)
            for name in names:
                if await cluster.delete(kind, namespace=command.namespace, name=name):
                    removed.append(
                        ObjectRef(api_version=kind.api_version, kind=kind.kind, name=name)
                    )
        except ClusterError as exc:
            failures.append((kind, exc))
            log.warning(
                "delete of one kind failed; carrying on with the others",
                extra={"public_id": command.public_id, "kind": kind.kind, "status": exc.status},
            )
    if failures:
        raise DeleteIncompleteError(failures)
    await _until_no_pod_is_left(command, cluster=cluster, within=pod_wait)
    return removed


async def _until_no_pod_is_left(command: DeleteModel, *, cluster: Cluster, within: float) -> None:
    selector = model_selector(command.public_id)
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + within, 0.05
    while pods := await cluster.list_names(POD, namespace=command.namespace, selector=selector):
        if loop.time() >= deadline:
            raise DeleteUnfinishedError(pods)
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.5)
