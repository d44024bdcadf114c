"""Selectors, pagination and watch behaviour through kubernetes-asyncio."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from kubesim import KubeSim

pytestmark = pytest.mark.integration


async def _configmaps(core: Any, n: int, ns: str = "default") -> None:
    for i in range(n):
        labels = {"tier": "gpu" if i % 2 else "cpu", "idx": str(i)}
        await core.create_namespaced_config_map(
            ns, {"metadata": {"name": f"cm-{i:02d}", "labels": labels}}
        )


@pytest.mark.parametrize(
    ("selector", "count"),
    [
        ("tier=gpu", 3),
        ("tier==cpu", 3),
        ("tier!=gpu", 3),
        ("idx in (1,2,9)", 2),
        ("idx notin (0,1)", 4),
        ("tier", 6),
        ("!tier", 0),
    ],
)
async def test_label_selectors(api: Any, selector: str, count: int) -> None:
    core: Any = client.CoreV1Api(api)
    await _configmaps(core, 6)
    listed = await core.list_namespaced_config_map("default", label_selector=selector)
    assert len(listed.items) == count
    assert listed.metadata.resource_version


async def test_field_selectors_and_pagination(api: Any) -> None:
    core: Any = client.CoreV1Api(api)
    await _configmaps(core, 5)
    assert (
        len(
            (
                await core.list_config_map_for_all_namespaces(field_selector="metadata.name=cm-03")
            ).items
        )
        == 1
    )
    assert (
        len(
            (
                await core.list_config_map_for_all_namespaces(
                    field_selector="metadata.namespace=kube-system"
                )
            ).items
        )
        == 0
    )
    nodes = await core.list_node(field_selector="metadata.name!=cpu-1")
    assert len(nodes.items) == 3
    names, token = [], None
    while True:
        page = await core.list_namespaced_config_map("default", limit=2, _continue=token)
        names += [c.metadata.name for c in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == [f"cm-{i:02d}" for i in range(5)]


async def test_watch_events_from_resource_version(api: Any) -> None:
    core: Any = client.CoreV1Api(api)
    rv = (await core.list_namespaced_config_map("default")).metadata.resource_version
    await core.create_namespaced_config_map("default", {"metadata": {"name": "w"}})
    await core.patch_namespaced_config_map("w", "default", {"data": {"a": "1"}})
    await core.delete_namespaced_config_map("w", "default")
    seen = []
    async with watch.Watch() as w:
        async for event in w.stream(
            core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
        ):
            seen.append((event["type"], event["object"].metadata.name))
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


async def _label_changes(core: Any) -> None:
    """Into the selection, modified inside it, out of it, modified outside, back in."""
    await core.create_namespaced_config_map("default", {"metadata": {"name": "sel"}})
    for labels, data in (
        ({"team": "a"}, {"x": "1"}),
        ({"team": "a"}, {"x": "2"}),
        ({"team": "b"}, {"x": "3"}),
        ({"team": "b"}, {"x": "4"}),
        ({"team": "a"}, {"x": "5"}),
    ):
        await core.patch_namespaced_config_map(
            "sel", "default", {"metadata": {"labels": labels}, "data": data}
        )
    await core.delete_namespaced_config_map("sel", "default")


SELECTED = [
    ("ADDED", "1"),
    ("MODIFIED", "2"),
    ("DELETED", "2"),  # leaving the selection: the object as it was, as the apiserver sends
    ("ADDED", "5"),
    ("DELETED", "5"),
]


async def test_a_watch_with_a_selector_sees_objects_enter_and_leave_it(api: Any) -> None:
    """Live: a label change out of the selector is a DELETED, into it an ADDED."""
    core: Any = client.CoreV1Api(api)
    seen: list[tuple[str, str]] = []
    rvs: list[int] = []

    async def watching() -> None:
        async with watch.Watch() as w:
            async for event in w.stream(
                core.list_namespaced_config_map,
                "default",
                label_selector="team=a",
                timeout_seconds=2,
            ):
                seen.append((event["type"], event["object"].data["x"]))
                rvs.append(int(event["object"].metadata.resource_version))

    task = asyncio.create_task(watching())
    await asyncio.sleep(0.3)
    await _label_changes(core)
    await task
    assert seen == SELECTED
    assert rvs == sorted(rvs)
    assert len(set(rvs)) == len(rvs), "each event at the resourceVersion of its own write"


async def test_a_watch_resumed_with_a_selector_replays_the_same_transitions(api: Any) -> None:
    core: Any = client.CoreV1Api(api)
    rv = (await core.list_namespaced_config_map("default")).metadata.resource_version
    await _label_changes(core)
    events = await _drain(
        core.list_namespaced_config_map, "default", label_selector="team=a", resource_version=rv
    )
    assert [(e["type"], e["object"].data["x"]) for e in events] == SELECTED


async def test_watch_initial_state_live_events_and_bookmarks(
    kubesim_factory: Any, tmp_path: Any
) -> None:
    async with kubesim_factory(bookmark_interval=0.2) as sim:
        from kubernetes_asyncio import config

        api = await config.new_client_from_config(
            config_file=str(sim.write_kubeconfig(tmp_path / "kc"))
        )
        async with api:
            core: Any = client.CoreV1Api(api)
            types: list[str] = []

            async def later() -> None:
                await asyncio.sleep(0.1)
                await core.patch_node("cpu-1", {"metadata": {"labels": {"x": "1"}}})

            task = asyncio.create_task(later())
            async with watch.Watch() as w:
                async for event in w.stream(
                    core.list_node, allow_watch_bookmarks=True, timeout_seconds=1
                ):
                    types.append(event["type"])
            await task
    assert types[:4] == ["ADDED"] * 4
    assert "MODIFIED" in types
    assert "BOOKMARK" in types


async def _drain(func: Any, *args: Any, **kwargs: Any) -> list[Any]:
    async with watch.Watch() as w:
        return [e async for e in w.stream(func, *args, timeout_seconds=1, **kwargs)]


async def test_watch_expired_history_is_410(kubesim_factory: Any, tmp_path: Any) -> None:
    async with kubesim_factory(history_size=5) as sim:
        from kubernetes_asyncio import config

        api = await config.new_client_from_config(
            config_file=str(sim.write_kubeconfig(tmp_path / "kc"))
        )
        async with api:
            core: Any = client.CoreV1Api(api)
            await _configmaps(core, 10)
            with pytest.raises(ApiException) as err:
                await _drain(core.list_namespaced_config_map, "default", resource_version="1")
            assert err.value.status == 410
            sim.faults.expire_next_watch()
            with pytest.raises(ApiException) as err:
                await _drain(core.list_node, resource_version=str(sim.storage.revision))
            assert err.value.status == 410
            assert "Expired" in str(err.value.reason)


async def test_cut_watches_and_client_going_away(api: Any, kubesim: KubeSim) -> None:
    core: Any = client.CoreV1Api(api)
    got: list[str] = []

    async def consume() -> None:
        async with watch.Watch() as w:
            async for event in w.stream(core.list_node, timeout_seconds=30):
                got.append(event["type"])

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    assert kubesim.faults.cut_watches() == 1
    await asyncio.wait_for(task, 5)
    assert got == ["ADDED"] * 4

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for _ in range(40):
        if kubesim.storage.watcher_count("/nodes") == 0:
            break
        await asyncio.sleep(0.1)
    assert kubesim.storage.watcher_count("/nodes") == 0
