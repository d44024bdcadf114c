"""Job and CronJob controllers.

Job: keeps `min(parallelism, completions - succeeded)` pods of its template running
until `completions` pods have Succeeded (condition `SuccessCriteriaMet`, then `Complete`)
or more than `backoffLimit` have failed (pods Failed, plus container restarts under
`OnFailure`: condition `FailureTarget`, then `Failed` with `BackoffLimitExceeded`), then
removes its active pods. `suspend` removes them too. Status as the controller writes it:
`active`/`succeeded`/`failed` when not zero, `ready`, `terminating`, `startTime`,
`completionTime`, `uncountedTerminatedPods`. Only `NonIndexed` completion is simulated.

CronJob: at each time its `schedule` fires (in `timeZone`, UTC by default) creates a Job
named `<cronjob>-<minutes since the epoch>` from its `jobTemplate`, honouring `suspend`,
`concurrencyPolicy` (Allow, Forbid, Replace) and the history limits, and reports `active`,
`lastScheduleTime` and `lastSuccessfulTime`. A schedule missed while kubesim was not
running is run once (the most recent), as the controller does within `startingDeadlineSeconds`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kubesim import cron, events
from kubesim.controllers.common import (
    CRON_JOBS,
    JOBS,
    PODS,
    OwnerController,
    controller_ref,
    evolve,
    note,
    pod_from_template,
    random_suffix,
)
from kubesim.controllers.replicasets import is_pod_ready
from kubesim.errors import ApiError
from kubesim.fieldsets import now_iso
from kubesim.store import ObjectStore

Obj = dict[str, Any]
JOB_COMPONENT = "job-controller"
CRON_COMPONENT = "cronjob-controller"
SCHEDULED_AT = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def _condition(type_: str, reason: str, message: str, now: str) -> Obj:
    return {
        "type": type_,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def finished(job: Obj) -> str | None:
    """`Complete` or `Failed` once the Job has ended, else None."""
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return None


class JobController(OwnerController):
    owner = JOBS

    def reconcile(self, job: Obj) -> None:
        now = now_iso()
        spec = job.get("spec") or {}
        pods = self.dependents(job)
        phase = {p["metadata"]["name"]: (p.get("status") or {}).get("phase") for p in pods}
        active = [
            p
            for p in pods
            if phase[p["metadata"]["name"]] not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")
        ]
        succeeded = sum(1 for v in phase.values() if v == "Succeeded")
        failed = sum(1 for v in phase.values() if v == "Failed")
        restarts = sum(
            int(cs.get("restartCount", 0))
            for p in active
            for cs in (p.get("status") or {}).get("containerStatuses") or ()
        )
        status: Obj = {**(job.get("status") or {})}
        conditions: list[Obj] = list(status.get("conditions") or [])
        ended = finished(job)
        completions = spec.get("completions")
        if ended is None and not spec.get("suspend"):
            status.setdefault("startTime", now)
            if failed + restarts > int(spec.get("backoffLimit", 6)):
                message = "Job has reached the specified backoff limit"
                conditions += [
                    _condition("FailureTarget", "BackoffLimitExceeded", message, now),
                    _condition("Failed", "BackoffLimitExceeded", message, now),
                ]
                ended = "Failed"
                self._event(job, "BackoffLimitExceeded", message, warning=True)
            elif (completions is not None and succeeded >= int(completions)) or (
                completions is None and succeeded > 0 and not active
            ):
                message = "Reached expected number of succeeded pods"
                conditions += [
                    _condition("SuccessCriteriaMet", "CompletionsReached", message, now),
                    _condition("Complete", "CompletionsReached", message, now),
                ]
                status["completionTime"] = now
                ended = "Complete"
                self._event(job, "Completed", "Job completed")
        if ended is not None or spec.get("suspend"):
            for pod in active:
                self._delete(job, pod)
            active = []
        else:
            parallelism = int(spec.get("parallelism", 1))
            if completions is None:
                wanted = parallelism if succeeded == 0 else 0
            else:
                wanted = min(parallelism, int(completions) - succeeded)
            for pod in active[wanted:]:
                self._delete(job, pod)
            active = active[:wanted]
            for _ in range(wanted - len(active)):
                active.append(self._create(job))
        for field, value in (("active", len(active)), ("succeeded", succeeded), ("failed", failed)):
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        status["ready"] = sum(1 for p in active if is_pod_ready(p))
        status["terminating"] = sum(1 for p in pods if p["metadata"].get("deletionTimestamp"))
        status["uncountedTerminatedPods"] = {}
        if conditions:
            status["conditions"] = conditions
        if status != job.get("status"):
            self.store.commit(JOBS, evolve(job, status=status))

    def _event(self, job: Obj, reason: str, message: str, *, warning: bool = False) -> None:
        if warning:
            events.record(
                self.store,
                involved=job,
                reason=reason,
                message=message,
                type="Warning",
                component=JOB_COMPONENT,
            )
        else:
            note(self.store, job, reason, message, component=JOB_COMPONENT)

    def _create(self, job: Obj) -> Obj:
        name = f"{job['metadata']['name']}-{random_suffix()}"
        pod = pod_from_template(job, job["spec"].get("template") or {}, name=name)
        created = self.store.create(pod, rt=PODS)
        self._event(job, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        return created

    def _delete(self, job: Obj, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        with contextlib.suppress(ApiError):
            self.store.delete(PODS, pod["metadata"]["namespace"], name)
            self._event(job, "SuccessfulDelete", f"Deleted pod: {name}")


def _zone(cron_job: Obj) -> ZoneInfo | None:
    name = (cron_job.get("spec") or {}).get("timeZone")
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def due(cron_job: Obj, now: datetime) -> datetime | None:
    """The most recent time the schedule fired since the last Job (or the CronJob's
    creation), if it fired at all up to `now`."""
    spec = cron_job.get("spec") or {}
    try:
        schedule = cron.parse(str(spec.get("schedule", "")))
    except cron.CronError:
        return None
    status = cron_job.get("status") or {}
    since = _parse_time(status.get("lastScheduleTime") or cron_job["metadata"]["creationTimestamp"])
    # misses older than a week are not looked for one by one (the controller, too, stops
    # counting past 100 and starts the most recent)
    since = max(since, now - timedelta(days=7))
    zone = _zone(cron_job) or UTC
    fired: datetime | None = None
    moment, end = since.astimezone(zone), now.astimezone(zone)
    while (upcoming := schedule.next_after(moment)) <= end:
        fired = moment = upcoming
    if fired is None:
        return None
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None and fired < end - timedelta(seconds=int(deadline)):
        return None
    return fired.astimezone(UTC)


class CronJobController(OwnerController):
    owner = CRON_JOBS
    dependent = JOBS

    def __init__(self, store: ObjectStore, *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(store)
        self.clock = clock or (lambda: datetime.now(UTC))

    def tick(self) -> bool:
        """Mark every CronJob whose schedule has fired; True when one has."""
        now = self.clock()
        for cj in self.store.storage.iter(CRON_JOBS.storage_key):
            if not (cj.get("spec") or {}).get("suspend") and due(cj, now) is not None:
                self.dirty.add((cj["metadata"]["namespace"], cj["metadata"]["name"]))
        return bool(self.dirty)

    def reconcile(self, cj: Obj) -> None:
        spec = cj.get("spec") or {}
        status: Obj = {**(cj.get("status") or {})}
        jobs = self.dependents(cj)
        active = [j for j in jobs if finished(j) is None]
        fired = None if spec.get("suspend") else due(cj, self.clock())
        if fired is not None:
            policy = spec.get("concurrencyPolicy", "Allow")
            if policy == "Forbid" and active:
                fired = None  # skipped, as the controller does, and not marked scheduled
            else:
                if policy == "Replace":
                    for job in active:
                        self._delete(cj, job)
                    active = []
                active.append(self._create(cj, fired))
                status["lastScheduleTime"] = fired.strftime("%Y-%m-%dT%H:%M:%SZ")
        succeeded = [j for j in jobs if finished(j) == "Complete"]
        failed = [j for j in jobs if finished(j) == "Failed"]
        if succeeded:
            times = [(j.get("status") or {}).get("completionTime") or "" for j in succeeded]
            status["lastSuccessfulTime"] = max(times)
        for done, limit in (
            (succeeded, int(spec.get("successfulJobsHistoryLimit", 3))),
            (failed, int(spec.get("failedJobsHistoryLimit", 1))),
        ):
            done.sort(key=lambda j: j["metadata"]["creationTimestamp"])
            for job in done[: max(len(done) - limit, 0)]:
                self._delete(cj, job)
        refs = [
            {
                "kind": "Job",
                "namespace": j["metadata"]["namespace"],
                "name": j["metadata"]["name"],
                "uid": j["metadata"]["uid"],
                "apiVersion": "batch/v1",
                "resourceVersion": j["metadata"]["resourceVersion"],
            }
            for j in sorted(active, key=lambda j: j["metadata"]["name"])
        ]
        if refs:
            status["active"] = refs
        else:
            status.pop("active", None)
        if status != (cj.get("status") or {}):
            self.store.commit(CRON_JOBS, evolve(cj, status=status))

    def _create(self, cj: Obj, scheduled: datetime) -> Obj:
        template = (cj.get("spec") or {}).get("jobTemplate") or {}
        tmeta = template.get("metadata") or {}
        name = f"{cj['metadata']['name']}-{int(scheduled.timestamp() // 60)}"
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": cj["metadata"]["namespace"],
                "labels": dict(tmeta.get("labels") or {}),
                "annotations": {
                    **(tmeta.get("annotations") or {}),
                    SCHEDULED_AT: scheduled.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                "ownerReferences": [controller_ref(cj)],
            },
            "spec": template.get("spec") or {},
        }
        try:
            created = self.store.create(job, rt=JOBS)
        except ApiError:
            existing = self.store.find(JOBS, cj["metadata"]["namespace"], name)
            if existing is None:
                raise
            return existing  # already created for this schedule time
        note(self.store, cj, "SuccessfulCreate", f"Created job {name}", component=CRON_COMPONENT)
        return created

    def _delete(self, cj: Obj, job: Obj) -> None:
        name = job["metadata"]["name"]
        with contextlib.suppress(ApiError):
            self.store.delete(
                JOBS,
                job["metadata"]["namespace"],
                name,
                options={"propagationPolicy": "Background"},
            )
            note(
                self.store, cj, "SuccessfulDelete", f"Deleted job {name}", component=CRON_COMPONENT
            )
