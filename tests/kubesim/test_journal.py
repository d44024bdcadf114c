"""The data directory's journal, in one process: what a restart takes up mid-way (a pod
still pulling, a crash loop, Events), compaction, and no journal at all without a data
directory. Each simulator serves over HTTP; the second one on a directory is a restart."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kubesim import KubeSim
from kubesim.controllers.common import DEPLOYMENTS, PODS
from kubesim.events import EVENTS
from kubesim.journal import Journal, Put
from tests.kubesim.conftest import deployment
from tests.waiting import eventually, poll

pytestmark = pytest.mark.integration

Obj = dict[str, Any]


def _create(sim: KubeSim, name: str, **options: Any) -> None:
    body = deployment(name, **options)
    body["metadata"]["namespace"] = "default"
    sim.store.create(body, rt=DEPLOYMENTS)


def _pods(sim: KubeSim, app: str) -> list[Obj]:
    return [
        p
        for p in sim.storage.iter(PODS.storage_key, "default")
        if p["metadata"].get("labels", {}).get("app") == app
    ]


def _events(sim: KubeSim, reason: str, about: str) -> list[Obj]:
    return [
        e
        for e in sim.storage.iter(EVENTS.storage_key, "default")
        if e["reason"] == reason and e["involvedObject"]["name"].startswith(about)
    ]


async def test_a_pod_still_pulling_at_a_stop_starts_once_after_the_restart(
    tmp_path: Path,
) -> None:
    async with KubeSim(ready_delay=600, data_dir=tmp_path).serve():
        pass  # the first serve only seeds
    first = KubeSim(ready_delay=600, data_dir=tmp_path)
    async with first.serve() as sim:
        _create(sim, "slow")
        await eventually(lambda: _pulling(sim, "slow"), within=30)
    pulling = _pods(first, "slow")[0]

    async with KubeSim(ready_delay=0.05, data_dir=tmp_path).serve() as sim:
        pod = await poll(
            lambda: _pod(sim, "slow"),
            until=lambda p: p["status"].get("phase") == "Running",
            timeout=30,
        )
        assert pod["metadata"]["uid"] == pulling["metadata"]["uid"]
        told = [_events(sim, r, "slow-") for r in ("Pulling", "Started")]
        assert [[e["count"] for e in events] for events in told] == [[1], [1]]
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0


async def _pulling(sim: KubeSim, app: str) -> bool:
    pods = _pods(sim, app)
    return bool(pods) and bool(_events(sim, "Pulling", f"{app}-"))


async def _pod(sim: KubeSim, app: str) -> Obj:
    return _pods(sim, app)[0]


async def test_a_crash_loop_goes_on_after_a_restart_counting_on_the_same_event(
    tmp_path: Path,
) -> None:
    first = KubeSim(ready_delay=0.05, crash_interval=0.2, data_dir=tmp_path)
    async with first.serve() as sim:
        _create(sim, "crashy", image="example.com/crashloop:1")
        await eventually(lambda: _restarts(sim, "crashy", at_least=3), within=30)
    before = _events(first, "BackOff", "crashy-")
    restarts = _pods(first, "crashy")[0]["status"]["containerStatuses"][0]["restartCount"]

    second = KubeSim(ready_delay=0.05, crash_interval=0.2, data_dir=tmp_path)
    async with second.serve() as sim:
        await eventually(lambda: _restarts(sim, "crashy", at_least=restarts + 2), within=30)
        after = _events(sim, "BackOff", "crashy-")
    assert [e["metadata"]["uid"] for e in after] == [e["metadata"]["uid"] for e in before]
    assert after[0]["count"] > before[0]["count"]


async def _restarts(sim: KubeSim, app: str, *, at_least: int) -> bool:
    pods = _pods(sim, app)
    return bool(pods) and any(
        cs.get("restartCount", 0) >= at_least
        for cs in pods[0].get("status", {}).get("containerStatuses", [])
    )


async def test_after_a_compaction_a_watch_from_before_it_is_gone_and_the_state_stays(
    tmp_path: Path,
) -> None:
    async with KubeSim(data_dir=tmp_path).serve() as sim:
        old = sim.storage.revision
        _create(sim, "web")
        await eventually(lambda: _running(sim, "web"), within=30)
        sim.storage.compact()
        assert (tmp_path / "wal").stat().st_size == 0
        _create(sim, "later")  # logged after the snapshot
        revision = sim.storage.revision
        uids = {o["metadata"]["uid"] for _k, o in sim.storage.items()}

    async with KubeSim(data_dir=tmp_path).serve() as sim:
        assert sim.storage.revision >= revision
        assert uids <= {o["metadata"]["uid"] for _k, o in sim.storage.items()}
        async with httpx.AsyncClient(base_url=sim.url, timeout=10) as http:
            path = "/apis/apps/v1/namespaces/default/deployments"
            gone = await http.get(path, params={"watch": "1", "resourceVersion": str(old)})
            event = orjson.loads(gone.content.splitlines()[0])
            assert event["type"] == "ERROR"
            assert event["object"]["code"] == 410
            kept = await http.get(
                path,
                params={"watch": "1", "resourceVersion": str(revision - 1), "timeoutSeconds": "1"},
            )
            names = [
                orjson.loads(line)["object"]["metadata"]["name"]
                for line in kept.content.splitlines()
            ]
            assert names[0] == "later"


async def _running(sim: KubeSim, app: str) -> bool:
    pods = _pods(sim, app)
    return bool(pods) and all(p.get("status", {}).get("phase") == "Running" for p in pods)


def test_the_log_asks_for_a_compaction_past_its_bound(tmp_path: Path) -> None:
    journal = Journal(tmp_path, compact_bytes=1000)
    assert journal.recover() is None
    journal.snapshot(0, [])
    obj = {"metadata": {"name": "a", "namespace": "default", "resourceVersion": "1"}}
    journal.put("ADDED", "/configmaps", obj)
    asked = [journal.wants_compaction]
    journal.put("MODIFIED", "/configmaps", {**obj, "data": {"k": "v" * 1000}})
    asked.append(journal.wants_compaction)
    assert asked == [False, True]
    journal.close()
    recovered = Journal(tmp_path).recover()
    assert recovered is not None
    assert [type(c) for c in recovered.changes] == [Put, Put]


def test_garbage_after_the_last_record_is_cut_off(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.snapshot(0, [])
    obj = {"metadata": {"name": "a", "namespace": "default", "resourceVersion": "1"}}
    journal.put("ADDED", "/configmaps", obj)
    journal.close()
    whole = (tmp_path / "wal").stat().st_size
    with (tmp_path / "wal").open("ab") as wal:
        wal.write(b"\xff\x00\x00\x00\x12\x34")  # a header promising more than follows
    journal = Journal(tmp_path)
    recovered = journal.recover()
    assert recovered is not None
    assert recovered.dropped == 6
    assert [c.obj["metadata"]["name"] for c in recovered.changes if isinstance(c, Put)] == ["a"]
    assert (tmp_path / "wal").stat().st_size == whole
    journal.close()


async def test_without_a_data_directory_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with KubeSim(ready_delay=0.05).serve() as sim:
        _create(sim, "web")
        await eventually(lambda: _running(sim, "web"), within=30)
        assert sim.journal is None
        assert sim.storage.journal is None
    assert os.listdir(tmp_path) == []


def test_a_data_directory_in_use_is_refused_in_process_too(tmp_path: Path) -> None:
    from kubesim.journal import JournalError

    holder = KubeSim(data_dir=tmp_path)
    with pytest.raises(JournalError, match="in use by another kubesim"):
        KubeSim(data_dir=tmp_path)
    holder.close()
    KubeSim(data_dir=tmp_path).close()


async def test_a_rollout_under_way_at_a_stop_still_times_out_after_the_restart(
    tmp_path: Path,
) -> None:
    body = deployment("stuck", gpus=64)  # no node has that many: it never progresses
    body["metadata"]["namespace"] = "default"
    body["spec"]["progressDeadlineSeconds"] = 3
    async with KubeSim(ready_delay=0.05, data_dir=tmp_path).serve() as sim:
        sim.store.create(body, rt=DEPLOYMENTS)
        await eventually(lambda: _progressing(sim, "stuck", "ReplicaSetUpdated"), within=30)

    async with KubeSim(ready_delay=0.05, data_dir=tmp_path).serve() as sim:
        await eventually(lambda: _progressing(sim, "stuck", "ProgressDeadlineExceeded"), within=30)


async def _progressing(sim: KubeSim, name: str, reason: str) -> bool:
    d = sim.store.find(DEPLOYMENTS, "default", name)
    conditions = ((d or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Progressing" and c.get("reason") == reason for c in conditions)
