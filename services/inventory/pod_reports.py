"""What Kubernetes itself says about a model's pods, turned into the reasons users read.

A pod's status says *that* it fails (`ImagePullBackOff`, `CrashLoopBackOff`,
`Unschedulable`); the kubelet's and the scheduler's Warning Events, and the last lines
a crashed container printed, say *why*: `Failed to pull image "...": ... not found`,
`0/3 nodes are available: 3 Insufficient nvidia.com/gpu`, `torch.OutOfMemoryError: CUDA
out of memory`. `explain` swaps the first for the second when it is known. Everything
shown is passed through `redact` first: a container may print a token, and no secret
may reach an event, a log line or a response.
"""

import re
from dataclasses import dataclass, field, replace
from typing import Final

from services.inventory.objects import Problem, Raw

IMAGE_PULL_REASONS: Final = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"})
CRASH_LOOP: Final = "CrashLoopBackOff"
UNSCHEDULABLE: Final = "Unschedulable"
LOG_LINES: Final = 5
MAX_MESSAGE: Final = 1000
_SECRETS: Final = (
    re.compile(r"\bhf_[A-Za-z0-9]{8,}"),  # Hugging Face tokens
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)\b([A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|CREDENTIALS?)[A-Z0-9_]*)"
        r"(\s*[=:]\s*)(['\"]?)[^\s'\",;]+"
    ),
    re.compile(r"(?i)(://[^/\s:@]+:)[^@\s/]+@"),  # user:password@ in a URL
)
REDACTED: Final = "[redacted]"


def redact(text: str) -> str:
    text = _SECRETS[0].sub(REDACTED, text)
    text = _SECRETS[1].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRETS[2].sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}", text)
    return _SECRETS[3].sub(lambda m: f"{m.group(1)}{REDACTED}@", text)


def log_tail(text: str) -> str:
    """The last non-empty lines a container printed, redacted and bounded."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return redact("\n".join(lines[-LOG_LINES:]))[-MAX_MESSAGE:]


@dataclass(frozen=True, slots=True)
class PodReport:
    """Per pod: the latest Warning message per reason, and its crashed container's log."""

    warnings: dict[str, str] = field(default_factory=dict)
    crash_log: str | None = None

    def warned(self, reason: str, message: str) -> "PodReport":
        held = self.warnings.get(reason)
        if held is not None and message.startswith("Error: ") and not held.startswith("Error: "):
            return self  # "Error: ErrImagePull" says less than the pull error it follows
        return replace(self, warnings={**self.warnings, reason: redact(message)[:MAX_MESSAGE]})


@dataclass(frozen=True, slots=True)
class PodWarning:
    pod_key: str
    reason: str
    message: str


def pod_warning(raw: Raw) -> PodWarning | None:
    """A core/v1 Warning Event about a Pod; None for anything else."""
    involved = raw.get("involvedObject") or raw.get("regarding")
    if not isinstance(involved, dict) or involved.get("kind") != "Pod":
        return None
    if raw.get("type") != "Warning" or not raw.get("reason"):
        return None
    namespace, name = involved.get("namespace", ""), involved.get("name", "")
    return PodWarning(
        pod_key=f"{namespace}/{name}",
        reason=str(raw["reason"]),
        message=str(raw.get("message") or raw.get("note") or ""),
    )


def explain(problem: Problem, report: PodReport | None) -> Problem:
    """The problem in Kubernetes' own words, when its Events or logs say more."""
    if report is None:
        return problem
    message: str | None = None
    if problem.reason in IMAGE_PULL_REASONS:
        failed = report.warnings.get("Failed", "")
        message = failed if failed.startswith("Failed to pull image") else None
    elif problem.reason == CRASH_LOOP:
        message = report.crash_log or report.warnings.get("BackOff")
    elif problem.reason == UNSCHEDULABLE:
        message = report.warnings.get("FailedScheduling")
    return Problem(problem.reason, message) if message else problem
