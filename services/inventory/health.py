"""How a model workload is doing, judged from its Deployment and its pods.

One judgement feeds both the `/all` phase and the lifecycle events, so the two never
disagree. Time enters only through `now`: an Unschedulable pod turns into a failure once
it has waited `unschedulable_timeout`, and `next_check` says when to look again.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from services.inventory.objects import Phase, PodView, Problem, WorkloadView

IMAGE_PULL_REASONS: Final = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"})
CRASH_LOOP: Final = "CrashLoopBackOff"
UNSCHEDULABLE: Final = "Unschedulable"


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
    workload: WorkloadView, pods: Iterable[PodView], *, now: datetime, policy: HealthPolicy
) -> Assessment:
    failure: Problem | None = None
    crashlooping: Problem | None = None
    next_check: datetime | None = None
    for pod in pods:
        if pod.terminated:
            continue
        for waiting in pod.waiting:
            if waiting.reason in IMAGE_PULL_REASONS:
                failure = failure or waiting
            elif waiting.reason == CRASH_LOOP:
                if pod.restart_count >= policy.crashloop_restart_threshold:
                    failure = failure or Problem(
                        CRASH_LOOP,
                        waiting.message or f"pod {pod.name} restarted {pod.restart_count} times",
                    )
                else:
                    crashlooping = crashlooping or waiting
        if pod.unschedulable_since is not None and not pod.node_name:
            deadline = pod.unschedulable_since + policy.unschedulable_timeout
            if now >= deadline:
                failure = failure or Problem(UNSCHEDULABLE, pod.unschedulable_message)
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
