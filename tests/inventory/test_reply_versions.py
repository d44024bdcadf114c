"""A query naming the reply version it holds is answered `Unchanged` while that version is
current, and the full reply with a new version once the cluster changed (integration)."""

import asyncio
import contextlib

import pytest
from kubernetes_asyncio.client import ApiClient, AppsV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from nats.aio.client import Client

from services.inventory.runtime import InventoryRuntime
from shared.names import MODELS_QUERY_SUBJECT, STATUS_QUERY_SUBJECT
from shared.queries import (
    MODELS_ANSWER,
    STATUS_ANSWER,
    ModelsQuery,
    ModelsReply,
    StatusQuery,
    StatusReply,
    Unchanged,
)
from tests.inventory.support import ask, deployment
from tests.waiting import poll

pytestmark = pytest.mark.integration


async def status(nc: Client, if_none_match: str | None = None) -> StatusReply | Unchanged:
    query = StatusQuery(if_none_match=if_none_match).model_dump_json().encode()
    reply = await ask(nc, STATUS_QUERY_SUBJECT, STATUS_ANSWER, query)
    assert isinstance(reply, StatusReply | Unchanged)
    return reply


async def settled_status(nc: Client) -> StatusReply:
    """A status whose version still holds a moment later (earlier tests' pods may still be
    coming and going in the shared cluster: a deleted pod stays Terminating, its GPUs
    taken, until its containers exit, 1 s in kubesim's default scenario)."""

    async def held_for_a_moment() -> StatusReply | None:
        reply = await status(nc)
        assert isinstance(reply, StatusReply)
        await asyncio.sleep(1.5)
        return reply if isinstance(await status(nc, reply.version), Unchanged) else None

    reply = await poll(held_for_a_moment, until=lambda r: r is not None)
    assert reply is not None
    return reply


async def models(
    nc: Client, subject: str = MODELS_QUERY_SUBJECT, **query: object
) -> ModelsReply | Unchanged:
    body = ModelsQuery.model_validate(query).model_dump_json().encode()
    reply = await ask(nc, subject, MODELS_ANSWER, body)
    assert isinstance(reply, ModelsReply | Unchanged)
    return reply


async def test_status_is_unchanged_until_the_cluster_changes(
    inventory: InventoryRuntime, nats_client: Client, kube: ApiClient
) -> None:
    # Pods of earlier tests may still be settling: wait for a version that holds.
    first = await settled_status(nats_client)
    assert first.version

    assert await status(nats_client, first.version) == Unchanged(version=first.version)
    # A version this inventory never gave (another replica's, a restarted one's): in full.
    assert await status(nats_client, "0000-1") == first

    apps = AppsV1Api(kube)
    await apps.create_namespaced_deployment("default", deployment("l4-user", gpus=1))  # type: ignore[arg-type]  # a dict body is sent as is
    try:
        changed = await poll(
            lambda: status(nats_client, first.version), until=lambda r: isinstance(r, StatusReply)
        )
        assert isinstance(changed, StatusReply)
        assert changed.version not in (None, first.version)
        # the new pod is bound, then created, then started: each write may move the
        # version on, so the version that must hold is the one after the pod settles
        settled = await settled_status(nats_client)
        assert settled.version
        assert settled.cluster_status != first.cluster_status  # one GPU is taken now
        assert await status(nats_client, settled.version) == Unchanged(version=settled.version)
    finally:
        await apps.delete_namespaced_deployment("l4-user", "default")


async def test_models_pages_share_the_lists_version_until_it_changes(
    inventory: InventoryRuntime, nats_client: Client, kube: ApiClient
) -> None:
    apps = AppsV1Api(kube)
    for name in ("alpha", "beta"):
        await apps.create_namespaced_deployment("default", deployment(name, gpus=0))  # type: ignore[arg-type]  # a dict body is sent as is
    try:

        async def two_pages() -> tuple[ModelsReply | Unchanged, ModelsReply | Unchanged]:
            return await models(nats_client, limit=1), await models(nats_client, offset=1, limit=1)

        def settled(pages: tuple[ModelsReply | Unchanged, ModelsReply | Unchanged]) -> bool:
            return (
                all(
                    isinstance(p, ModelsReply) and all(e.status == "Running" for e in p.models)
                    for p in pages
                )
                and pages[0].version == pages[1].version
            )

        # Pages read while nothing changes in between carry the same version.
        page, second = await poll(two_pages, until=settled)
        assert isinstance(page, ModelsReply)
        assert page.version
        assert page.next_offset == 1
        assert page.total >= 2
        assert isinstance(second, ModelsReply)
        # the replica's own subject, where a client asks the pages after the first
        assert page.pages_subject == f"{MODELS_QUERY_SUBJECT}.{inventory.responder.replies.replica}"
        pinned = await models(nats_client, page.pages_subject, offset=1, limit=1)
        assert pinned == second
        assert await models(nats_client, if_none_match=page.version) == Unchanged(
            version=page.version
        )

        await apps.delete_namespaced_deployment("beta", "default")
        after = await poll(
            lambda: models(nats_client, if_none_match=page.version),
            until=lambda r: isinstance(r, ModelsReply),
        )
        assert isinstance(after, ModelsReply)
        assert after.version != page.version
        assert "beta" not in {entry.name for entry in after.models}
    finally:
        for name in ("alpha", "beta"):
            with contextlib.suppress(ApiException):  # already gone
                await apps.delete_namespaced_deployment(name, "default")
