"""Kubernetes' own words as reasons (pure): which Event or log line explains what."""

from services.inventory.objects import Problem
from services.inventory.pod_reports import (
    PodReport,
    explain,
    log_tail,
    pod_warning,
    redact,
)


def test_secrets_are_redacted_wherever_they_appear() -> None:
    text = redact(
        "HF_TOKEN=hf_abcdefghijklmnop api_key: 'xyz123' Bearer abcdefghijkl "
        "https://bob:pa55@registry.example/img password=hunter2 plain words stay"
    )
    for secret in ("hf_abcdefghijklmnop", "xyz123", "abcdefghijkl", "pa55", "hunter2"):
        assert secret not in text
    assert "plain words stay" in text
    assert "https://bob:[redacted]@registry.example/img" in text


def test_the_log_tail_is_its_last_non_empty_lines() -> None:
    assert log_tail("a\n\nb\nc\nd\ne\nf\n\n") == "b\nc\nd\ne\nf"


def test_a_pull_error_is_not_replaced_by_the_shorter_error_that_follows_it() -> None:
    report = PodReport().warned("Failed", 'Failed to pull image "x": not found')
    report = report.warned("Failed", "Error: ErrImagePull")
    explained = explain(Problem("ImagePullBackOff", 'Back-off pulling image "x"'), report)
    assert explained == Problem("ImagePullBackOff", 'Failed to pull image "x": not found')


def test_a_crash_prefers_the_log_then_the_back_off_event() -> None:
    problem = Problem("CrashLoopBackOff", "back-off 10s")
    backed_off = PodReport().warned("BackOff", "Back-off restarting failed container")
    assert explain(problem, backed_off).message == "Back-off restarting failed container"
    logged = PodReport(crash_log="OOM")
    assert explain(problem, logged).message == "OOM"
    assert explain(problem, None) == problem


def test_only_warning_events_about_pods_count() -> None:
    event = {
        "involvedObject": {"kind": "Pod", "namespace": "ns", "name": "p"},
        "type": "Warning",
        "reason": "FailedScheduling",
        "message": "0/3 nodes are available",
    }
    warning = pod_warning(event)
    assert warning is not None
    assert (warning.pod_key, warning.reason) == ("ns/p", "FailedScheduling")
    assert pod_warning(event | {"type": "Normal"}) is None
    assert pod_warning(event | {"involvedObject": {"kind": "Node", "name": "n"}}) is None
