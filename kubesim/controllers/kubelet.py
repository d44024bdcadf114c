"""Kubelet: runs pods bound to nodes, and says so in Events (Pulling, Pulled, Created,
Started; Failed and BackOff for images that cannot be pulled; BackOff for crash loops,
counted up on every restart). After `ready_delay` a pod is Running and Ready,
unless its image matches a failing pattern: `ImagePullBackOff` keeps it Pending with the
container waiting; `CrashLoopBackOff` makes it Running but never Ready, its restartCount
growing every `crash_interval` seconds.

A pod whose `restartPolicy` is `Never` or `OnFailure` (a Job's) runs to completion: its
containers exit after the seconds of a shell `sleep N` in their command (else at once)
with the code of an `exit N` there (else 0; 1 for a crash-looping image). All zero, the
pod Succeeded; otherwise `Never` makes it Failed and `OnFailure` restarts the failed
containers after `crash_interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from kubesim import events
from kubesim.controllers.common import NODES, PODS, clone, condition, evolve
from kubesim.errors import ApiError
from kubesim.fieldsets import now_iso
from kubesim.storage import Event
from kubesim.store import ObjectStore

Obj = dict[str, Any]
Key = tuple[str, str]

IMAGE_PULL_BACKOFF = "ImagePullBackOff"
CRASH_LOOP_BACKOFF = "CrashLoopBackOff"
#: the number the next pod IP is made of (shared by every simulator in the process)
_next_ip = [2]


_SLEEP = re.compile(r"(?:^|[\s;&|(])sleep\s+(\d+(?:\.\d+)?)s?\b")
_EXIT = re.compile(r"(?:^|[\s;&|(])exit\s+(\d+)\b")


def runs_to_completion(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("restartPolicy", "Always") != "Always")


def run_of(container: Obj, *, crashing: bool) -> tuple[float, int]:
    """(seconds the container runs, its exit code), read from its command as a shell
    would run it: the first `sleep N` and `exit N` (a crash-looping image exits 1)."""
    words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
    script = " ".join(words)
    sleep = _SLEEP.search(script)
    exit_code = _EXIT.search(script)
    code = int(exit_code.group(1)) if exit_code else (1 if crashing else 0)
    return (float(sleep.group(1)) if sleep else 0.0), code


def _reserve_ip(ip: str) -> None:
    """Make the pod IPs handed out from now on differ from `ip` (one given before a restart)."""
    parts = ip.split(".")
    if len(parts) == 4 and parts[:2] == ["10", "244"] and all(p.isdigit() for p in parts):
        _next_ip[0] = max(_next_ip[0], int(parts[2]) * 250 + int(parts[3]))


def failure_for(image: str, patterns: Mapping[str, str]) -> str | None:
    for pattern, reason in patterns.items():
        if pattern in image or fnmatch.fnmatchcase(image, pattern):
            return reason
    return None


class Kubelet:
    #: the storage keys whose events `observe` reacts to (the manager sends it no others)
    observes: frozenset[str] | None = frozenset({PODS.storage_key})

    def __init__(
        self,
        store: ObjectStore,
        *,
        ready_delay: float,
        failing_images: Mapping[str, str],
        crash_interval: float,
        wake: Callable[[], None],
        termination_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.ready_delay = ready_delay
        self.failing_images = dict(failing_images)
        self.crash_interval = crash_interval
        self.wake = wake
        self.bound: set[Key] = set()
        self.due: set[Key] = set()
        self._seen: set[str] = set()  # pod uids already handed to the kubelet
        self.crashing: set[Key] = set()
        self.termination_seconds = termination_seconds
        self.stopping: set[Key] = set()  # pods told to stop: Killing, then gone
        self.stopped: set[Key] = set()  # pods whose containers have exited
        self._stopping_uids: set[str] = set()
        self.finished: set[Key] = set()  # run-to-completion pods whose containers exited
        #: pods found half-way after a restart, and what is left to do for each
        self.adopted: dict[Key, Literal["pull", "run", "exit"]] = {}

    def observe(self, event: Event) -> bool:
        if event.key != PODS.storage_key:
            return False
        meta = event.obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if event.type == "DELETED":
            self._seen.discard(meta["uid"])
            self._stopping_uids.discard(meta["uid"])
            self.crashing.discard(key)
            return False
        if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds"):
            if meta["uid"] in self._stopping_uids:
                return False
            self._stopping_uids.add(meta["uid"])
            self.stopping.add(key)
            return True
        node = event.obj.get("spec", {}).get("nodeName")
        if not node or meta["uid"] in self._seen:
            return False
        if self.store.find(NODES, "", node) is None:
            return False  # bound to a node that does not exist: no kubelet runs it
        self._seen.add(meta["uid"])
        self.bound.add(key)
        return True

    def adopt(self, pod: Obj) -> None:
        """Take over a pod this kubelet ran before a restart (it has container statuses):
        running containers keep running (no new Events, no restart), a pull in progress
        finishes after `ready_delay`, crash loops go on, run-to-completion containers run
        again for their time, and containers being stopped exit."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        status = pod.get("status") or {}
        statuses = status.get("containerStatuses") or []
        if not spec.get("nodeName") or not statuses:
            return  # not started yet: `observe` hands it over as a new pod
        key = (meta.get("namespace", ""), meta["name"])
        self._seen.add(meta["uid"])
        _reserve_ip(str(status.get("podIP", "")))
        if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds"):
            self._stopping_uids.add(meta["uid"])
            self.adopted[key] = "exit"
            return
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        waiting = {((cs.get("state") or {}).get("waiting") or {}).get("reason") for cs in statuses}
        if "ContainerCreating" in waiting:
            self.adopted[key] = "pull"
        elif CRASH_LOOP_BACKOFF in waiting:
            self.crashing.add(key)
        elif runs_to_completion(pod) and any(
            "running" in (cs.get("state") or {}) for cs in statuses
        ):
            self.adopted[key] = "run"

    def _resume(self) -> None:
        loop = asyncio.get_running_loop()
        while self.adopted:
            key, action = self.adopted.popitem()
            pod = self.store.find(PODS, *key)
            if pod is None:
                continue
            if action == "pull":
                loop.call_later(max(self.ready_delay, 0.0), self._ready, key)
            elif action == "run":
                self._run(pod)
            else:
                grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
                loop.call_later(min(self.termination_seconds, grace), self._exited, key)

    def _event(
        self, pod: Obj, container: str, reason: str, message: str, *, warning: bool = False
    ) -> None:
        """An Event about one container of `pod`, from the kubelet of its node."""
        events.record(
            self.store,
            involved=pod,
            reason=reason,
            message=message,
            type="Warning" if warning else "Normal",
            component="kubelet",
            host=str(pod["spec"].get("nodeName", "")),
            field_path=f"spec.containers{{{container}}}",
        )

    def _started_events(self, pod: Obj, container: Obj, *, pulled: bool) -> None:
        name, image = container["name"], container.get("image", "")
        if pulled:
            took = f"{self.ready_delay:.3g}s"
            message = f'Successfully pulled image "{image}" in {took} ({took} including waiting)'
            self._event(pod, name, "Pulled", message)
        self._event(pod, name, "Created", f"Created container: {name}")
        self._event(pod, name, "Started", f"Started container {name}")

    def _crash_back_off(self, pod: Obj, container: str) -> None:
        meta = pod["metadata"]
        where = f"{meta['name']}_{meta['namespace']}({meta['uid']})"
        message = f"Back-off restarting failed container {container} in pod {where}"
        self._event(pod, container, "BackOff", message, warning=True)

    def _pull_failed(self, pod: Obj, container: str, image: str) -> None:
        failed = (
            f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull '
            f'and unpack image "{image}": failed to resolve reference "{image}": not found'
        )
        self._event(pod, container, "Failed", failed, warning=True)
        self._event(pod, container, "Failed", "Error: ErrImagePull", warning=True)
        self._event(pod, container, "BackOff", f'Back-off pulling image "{image}"')
        self._event(pod, container, "Failed", "Error: ImagePullBackOff", warning=True)

    def _ready(self, key: Key) -> None:
        self.due.add(key)
        self.wake()

    def _creating(self, pod: Obj) -> None:
        """Straight after binding: containers are being created."""
        status = {**(pod.get("status") or {})}
        new = evolve(pod, status=status)
        status["hostIP"] = "10.0.0.1"
        status["startTime"] = now_iso()
        status["containerStatuses"] = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {"waiting": {"reason": "ContainerCreating"}},
            }
            for c in new["spec"].get("containers", [])
        ]
        stored = self.store.commit(PODS, new)
        for c in stored["spec"].get("containers", []):
            self._event(stored, c["name"], "Pulling", f'Pulling image "{c.get("image", "")}"')

    def run(self) -> None:
        if self.adopted:
            self._resume()
        while self.bound:
            key = self.bound.pop()
            pod = self.store.find(PODS, *key)
            if pod is None or pod["metadata"].get("deletionTimestamp"):
                continue
            self._creating(pod)
            if self.ready_delay <= 0:
                self.due.add(key)
            else:
                asyncio.get_running_loop().call_later(self.ready_delay, self._ready, key)
        while self.due:
            key = self.due.pop()
            pod = self.store.find(PODS, *key)
            if pod is not None and not pod["metadata"].get("deletionTimestamp"):
                self._start(pod)
        while self.finished:
            key = self.finished.pop()
            pod = self.store.find(PODS, *key)
            if pod is not None and not pod["metadata"].get("deletionTimestamp"):
                self._complete(pod)
        while self.stopping:
            key = self.stopping.pop()
            pod = self.store.find(PODS, *key)
            if pod is not None:
                self._stop(pod)
        while self.stopped:
            key = self.stopped.pop()
            pod = self.store.find(PODS, *key)
            if pod is not None and pod["metadata"].get("deletionTimestamp"):
                with contextlib.suppress(ApiError):
                    self.store.delete(PODS, *key, options={"gracePeriodSeconds": 0})

    def _stop(self, pod: Obj) -> None:
        """Stop the containers: they exit after `termination_seconds`, at most the grace
        period, and the pod is deleted for good then (its finalizers permitting)."""
        meta = pod["metadata"]
        self.crashing.discard((meta["namespace"], meta["name"]))
        for c in pod["spec"].get("containers", []):
            self._event(pod, c["name"], "Killing", f"Stopping container {c['name']}")
        grace = float(meta.get("deletionGracePeriodSeconds") or 0)
        key = (meta["namespace"], meta["name"])
        asyncio.get_running_loop().call_later(
            min(self.termination_seconds, grace), self._exited, key
        )

    def _exited(self, key: Key) -> None:
        self.stopped.add(key)
        self.wake()

    def _start(self, pod: Obj) -> None:
        now = now_iso()
        status = {**(pod.get("status") or {})}
        new = evolve(pod, status=status)
        n = _next_ip[0]
        _next_ip[0] += 1
        status["podIP"] = f"10.244.{(n // 250) % 250}.{n % 250 + 1}"
        status["podIPs"] = [{"ip": status["podIP"]}]
        statuses, failures = [], []
        for c in new["spec"].get("containers", []):
            image = str(c.get("image", ""))
            reason = failure_for(image, self.failing_images)
            if reason == CRASH_LOOP_BACKOFF and runs_to_completion(new):
                reason = None  # it runs, then exits 1 (see `_complete`)
            failures.append(reason)
            cs: Obj = {"name": c["name"], "image": image, "imageID": "", "restartCount": 0}
            if reason == IMAGE_PULL_BACKOFF:
                cs |= {
                    "ready": False,
                    "started": False,
                    "state": {
                        "waiting": {
                            "reason": reason,
                            "message": f'Back-off pulling image "{image}"',
                        }
                    },
                }
            elif reason == CRASH_LOOP_BACKOFF:
                cs |= {
                    "ready": False,
                    "started": False,
                    "restartCount": 1,
                    "state": {
                        "waiting": {
                            "reason": reason,
                            "message": f"back-off 10s restarting failed container={c['name']} pod={new['metadata']['name']}",
                        }
                    },
                    "lastState": {
                        "terminated": {
                            "exitCode": 1,
                            "reason": "Error",
                            "startedAt": now,
                            "finishedAt": now,
                        }
                    },
                }
            else:
                cs |= {
                    "ready": True,
                    "started": True,
                    "imageID": f"docker-pullable://{image}",
                    "state": {"running": {"startedAt": now}},
                }
            statuses.append(cs)
        ready = not any(failures)
        status["containerStatuses"] = statuses
        status["phase"] = "Pending" if IMAGE_PULL_BACKOFF in failures else "Running"
        not_ready = "" if ready else "ContainersNotReady"
        message = (
            ""
            if ready
            else "containers with unready status: ["
            + " ".join(
                c["name"] for c, f in zip(new["spec"]["containers"], failures, strict=True) if f
            )
            + "]"
        )
        status["conditions"] = [
            condition("PodReadyToStartContainers", True, now=now),
            condition("Initialized", True, now=now),
            condition("Ready", ready, reason=not_ready, message=message, now=now),
            condition("ContainersReady", ready, reason=not_ready, message=message, now=now),
            condition("PodScheduled", True, now=now),
        ]
        if CRASH_LOOP_BACKOFF in failures:
            self.crashing.add((new["metadata"]["namespace"], new["metadata"]["name"]))
        stored = self.store.commit(PODS, new)
        if runs_to_completion(stored) and IMAGE_PULL_BACKOFF not in failures:
            self._run(stored)
        for c, failure in zip(stored["spec"].get("containers", []), failures, strict=True):
            if failure == IMAGE_PULL_BACKOFF:
                self._pull_failed(stored, c["name"], str(c.get("image", "")))
                continue
            self._started_events(stored, c, pulled=True)
            if failure == CRASH_LOOP_BACKOFF:
                self._crash_back_off(stored, c["name"])

    def _run(self, pod: Obj) -> None:
        """Schedule the end of a run-to-completion pod's containers."""
        seconds = max(
            (run_of(c, crashing=False)[0] for c in pod["spec"].get("containers", [])), default=0.0
        )
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        asyncio.get_running_loop().call_later(seconds, self._finished, key)

    def _finished(self, key: Key) -> None:
        self.finished.add(key)
        self.wake()

    def _complete(self, pod: Obj) -> None:
        """Its containers exited: Succeeded, Failed, or (OnFailure) failed ones restart."""
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return
        now = now_iso()
        new = evolve(pod, status=clone(pod.get("status") or {}))
        status = new["status"]
        containers = {c["name"]: c for c in new["spec"].get("containers", [])}
        codes: dict[str, int] = {}
        for cs in status.get("containerStatuses", []):
            container = containers.get(cs["name"], {})
            crashing = failure_for(str(container.get("image", "")), self.failing_images)
            _seconds, code = run_of(container, crashing=crashing == CRASH_LOOP_BACKOFF)
            codes[cs["name"]] = code
            started = (cs.get("state", {}).get("running") or {}).get("startedAt", now)
            cs["state"] = {
                "terminated": {
                    "exitCode": code,
                    "reason": "Completed" if code == 0 else "Error",
                    "startedAt": started,
                    "finishedAt": now,
                }
            }
            cs["ready"] = cs["started"] = False
        failed = any(codes.values())
        if failed and new["spec"].get("restartPolicy") == "OnFailure":
            for cs in status.get("containerStatuses", []):
                if codes.get(cs["name"]):
                    cs["lastState"] = {"terminated": cs["state"]["terminated"]}
                    cs["restartCount"] = int(cs.get("restartCount", 0)) + 1
                    cs["state"] = {"running": {"startedAt": now}}
                    cs["started"] = True
            stored = self.store.commit(PODS, new)
            for c in stored["spec"].get("containers", []):
                if codes.get(c["name"]):
                    self._crash_back_off(stored, c["name"])
            key = (stored["metadata"]["namespace"], stored["metadata"]["name"])
            asyncio.get_running_loop().call_later(self.crash_interval, self._finished, key)
            return
        status["phase"] = "Failed" if failed else "Succeeded"
        reason = "PodFailed" if failed else "PodCompleted"
        status["conditions"] = [
            c
            if c.get("type") not in ("Ready", "ContainersReady")
            else condition(c["type"], False, reason=reason, now=now)
            for c in status.get("conditions", [])
        ]
        self.store.commit(PODS, new)

    def crash_tick(self) -> None:
        """One more restart for every crash-looping container."""
        for key in list(self.crashing):
            pod = self.store.find(PODS, *key)
            if pod is None:
                self.crashing.discard(key)
                continue
            new = evolve(pod, status=clone(pod.get("status") or {}))
            restarted = []
            for cs in new["status"].get("containerStatuses", []):
                if cs.get("state", {}).get("waiting", {}).get("reason") == CRASH_LOOP_BACKOFF:
                    cs["restartCount"] = int(cs.get("restartCount", 0)) + 1
                    restarted.append(cs["name"])
            stored = self.store.commit(PODS, new)
            for c in stored["spec"].get("containers", []):
                if c["name"] in restarted:
                    self._started_events(stored, c, pulled=False)
                    self._crash_back_off(stored, c["name"])
