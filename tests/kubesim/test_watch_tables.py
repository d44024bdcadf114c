"""A watch asked for in Table format (`kubectl get -w`) streams one-row Tables, as the
apiserver does: column definitions in the first event only, cells as a Table GET shows."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubesim import KubeSim
from tests.kubesim.conftest import deployment, kubectl_binary, official_client
from tests.waiting import eventually

pytestmark = pytest.mark.integration

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


async def _settled(kubesim: KubeSim, http: httpx.AsyncClient, path: str) -> None:
    """Until the two Deployments' pods are ready and their statuses written: the next
    change to one of them is the test's own."""

    async def available() -> bool:
        items = (await http.get(path)).json()["items"]
        return len(items) == 2 and all(
            (d.get("status") or {}).get("availableReplicas") == 1 for d in items
        )

    await eventually(available)
    kubesim.settle()


async def test_a_table_watch_sends_one_row_tables_with_columns_first(kubesim: KubeSim) -> None:
    for name in ("tab-a", "tab-b"):
        kubesim.store.create(deployment(name), namespace="default")
    path = "/apis/apps/v1/namespaces/default/deployments"
    events: list[Any] = []
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=20) as http:
        await _settled(kubesim, http, path)
        listed = (await http.get(path, headers={"Accept": TABLE})).json()
        async with http.stream(
            "GET", path, params={"watch": "true", "timeoutSeconds": "10"},
            headers={"Accept": TABLE},
        ) as resp:  # fmt: skip
            assert resp.status_code == 200
            lines = resp.aiter_lines()
            for _ in range(2):
                events.append(json.loads(await anext(lines)))
            scaled = await http.patch(
                f"{path}/tab-a",
                content=json.dumps({"spec": {"replicas": 3}}),
                headers={"Content-Type": "application/merge-patch+json"},
            )
            assert scaled.status_code == 200
            events.append(json.loads(await anext(lines)))

    assert [e["type"] for e in events] == ["ADDED", "ADDED", "MODIFIED"]
    tables = [e["object"] for e in events]
    for table in tables:
        assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
        [row] = table["rows"]
        assert row["object"]["kind"] == "PartialObjectMetadata"
        assert table["metadata"]["resourceVersion"] == row["object"]["metadata"]["resourceVersion"]
    # column definitions once, in the first event, as a Table list gives them
    assert tables[0]["columnDefinitions"] == listed["columnDefinitions"]
    assert [c["name"] for c in listed["columnDefinitions"]][:2] == ["Name", "Ready"]
    assert [t["columnDefinitions"] for t in tables[1:]] == [None, None]
    # the initial rows are the list's rows; the live one is the scaled Deployment
    assert {
        t["rows"][0]["object"]["metadata"]["name"]: t["rows"][0]["cells"] for t in tables[:2]
    } == {r["object"]["metadata"]["name"]: r["cells"] for r in listed["rows"]}
    assert tables[2]["rows"][0]["object"]["metadata"]["name"] == "tab-a"
    assert tables[2]["metadata"]["resourceVersion"] == scaled.json()["metadata"]["resourceVersion"]


def _table_watch(kubeconfig: Path, events: list[Any], enough: int, scaled: threading.Event) -> None:
    """The `kubernetes` client's own watch helper on Deployments, asking for Tables with
    its `_headers`, until `enough` events came (the last after `scaled` is set)."""
    from kubernetes import client as sync_client
    from kubernetes import watch

    apps: Any = sync_client.AppsV1Api(official_client(kubeconfig))
    new_watch: Any = watch.Watch
    stream = new_watch()
    for event in stream.stream(
        apps.list_namespaced_deployment,
        "default",
        timeout_seconds=10,
        _headers={"Accept": TABLE},
        deserialize=False,  # a Table is not a V1Deployment
    ):
        events.append(event)
        if len(events) == enough:
            stream.stop()
        elif len(events) == enough - 1:
            assert scaled.wait(10)


async def test_the_official_clients_watch_asks_for_tables_and_gets_them(
    kubesim: KubeSim, kubeconfig_path: Path
) -> None:
    for name in ("cli-a", "cli-b"):
        kubesim.store.create(deployment(name), namespace="default")
    path = "/apis/apps/v1/namespaces/default/deployments"
    events: list[Any] = []
    scaled = threading.Event()
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=20) as http:
        await _settled(kubesim, http, path)
        watching = asyncio.create_task(
            asyncio.to_thread(_table_watch, kubeconfig_path, events, 3, scaled)
        )

        async def initial_rows() -> bool:
            return len(events) == 2

        await eventually(initial_rows)
        patched = await http.patch(
            f"{path}/cli-a",
            content=json.dumps({"spec": {"replicas": 2}}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert patched.status_code == 200
        scaled.set()
        await asyncio.wait_for(watching, 15)
        listed = (await http.get(path, headers={"Accept": TABLE})).json()
    assert [e["type"] for e in events[:2]] == ["ADDED", "ADDED"]
    tables = [e["object"] for e in events]
    for table in tables:
        assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
        [row] = table["rows"]
        assert len(row["cells"]) == len(listed["columnDefinitions"])
    assert tables[0]["columnDefinitions"] == listed["columnDefinitions"]
    assert [t["columnDefinitions"] for t in tables[1:]] == [None, None]
    assert {t["rows"][0]["object"]["metadata"]["name"] for t in tables[:2]} == {"cli-a", "cli-b"}
    # the change after the initial rows is the scaled Deployment, as a one-row Table
    assert events[2]["type"] == "MODIFIED"
    assert tables[2]["rows"][0]["object"]["metadata"]["name"] == "cli-a"
    assert tables[2]["metadata"]["resourceVersion"] == patched.json()["metadata"]["resourceVersion"]


async def test_a_plain_watch_still_sends_objects(kubesim: KubeSim) -> None:
    kubesim.store.create(deployment("plain-a"), namespace="default")
    async with httpx.AsyncClient(base_url=kubesim.url, timeout=20) as http, http.stream(
        "GET", "/apis/apps/v1/namespaces/default/deployments",
        params={"watch": "true", "timeoutSeconds": "10"},
    ) as resp:  # fmt: skip
        line = json.loads(await anext(resp.aiter_lines()))
    assert (line["type"], line["object"]["kind"]) == ("ADDED", "Deployment")


@pytest.mark.kubectl
async def test_kubectl_get_w_keeps_its_columns_after_the_first_row(
    kubesim: KubeSim, kubeconfig_path: Path
) -> None:
    kubesim.store.create(deployment("cols"), namespace="default")
    proc = await asyncio.create_subprocess_exec(
        kubectl_binary(), "--kubeconfig", str(kubeconfig_path), "get", "deployments", "-w",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        header = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split()
        assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split()[0] == "cols"
        kubesim.store.create(deployment("cols-two"), namespace="default")
        later = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split()
    finally:
        proc.kill()
        await proc.wait()
    # a later row is printed with every column, not as a bare name
    assert later[0] in ("cols", "cols-two")
    assert len(later) == len(header)
