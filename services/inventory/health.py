"""How a model workload is doing, judged from its Deployment and its pods.

One judgement feeds both the `/all` phase and the lifecycle events, so the two never
disagree. Time enters only through `now`: an Unschedulable pod turns into a failure once
it has waited `unschedulable_timeout`, and `next_check` says when to look again.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.inventory.objects import ObservedPod, ObservedWorkload, Phase, Problem
from services.inventory.pod_reports import (
    CRASH_LOOP,
    IMAGE_PULL_REASONS,
    UNSCHEDULABLE,
    PodReport,
    explain,
)


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    crashloop_restart_threshold: int = 3
    unschedulable_timeout: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Assessment:
    phase: Phase
    failure: Problem | None = None
    crashlooping: Problem | None = None
    next_check: datetime | None = None


def assess(
    workload: ObservedWorkload,
    pods: Iterable[ObservedPod],
    *,
    now: datetime,
    policy: HealthPolicy,
    reports: Mapping[str, PodReport] | None = None,
) -> Assessment:
    """`reports` (per pod key) put a problem in Kubernetes' own words (`pod_reports`)."""
    failure: Problem | None = None
    crashlooping: Problem | None = None
    next_check: datetime | None = None
    reports = reports or {}
    for pod in pods:
        if pod.terminated:
            continue
        report = reports.get(pod.key)
        for waiting in pod.waiting:
            if waiting.reason in IMAGE_PULL_REASONS:
                failure = failure or explain(waiting, report)
            elif waiting.reason == CRASH_LOOP:
                if pod.restart_count >= policy.crashloop_restart_threshold:
                    failure = failure or explain(
                        Problem(
                            CRASH_LOOP,
                            waiting.message
                            or f"pod {pod.name} restarted {pod.restart_count} times",
                        ),
                        report,
                    )
                else:
                    crashlooping = crashlooping or explain(waiting, report)
        if pod.unschedulable_since is not None and not pod.node_name:
            deadline = pod.unschedulable_since + policy.unschedulable_timeout
            if now >= deadline:
                unschedulable = Problem(UNSCHEDULABLE, pod.unschedulable_message)
                failure = failure or explain(unschedulable, report)
            elif next_check is None or deadline < next_check:
                next_check = deadline
    failure = failure or workload.condition_failure
    phase: Phase
    if workload.ready_replicas >= 1:
        phase = "Running"
    elif failure is not None:
        phase = "Failed"
    elif not workload.observed:
        phase = "Unknown"
    else:
        phase = "Pending"
    return Assessment(
        phase=phase, failure=failure, crashlooping=crashlooping, next_check=next_check
    )
