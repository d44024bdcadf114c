"""The alert rules: generated files are current, valid, and each alert fires when it should
and stays quiet when it should (promtool's unit tests, with shortened durations)."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from jan_models.ops.alerts import AlertSettings, alert_names, render_rules_file
from jan_models.ops.generated import RULES_FILE, generated_files
from tests.ops.promtool import promtool

ROOT = Path(__file__).resolve().parents[2]
SHORT = AlertSettings(
    model_failed_for="1m",
    model_degraded_for="2m",
    drift_window="10m",
    drift_for="0m",
    outbox_for="1m",
    backlog_window="5m",
    backlog_for="1m",
    inventory_lag_for="1m",
    watch_not_synced_for="1m",
    gpus_exhausted_for="1m",
    quota_for="1m",
)
EVAL = "10m"
Series = dict[str, str]

# alert -> (series that must make it fire, labels it fires with, series that must not)
CASES: dict[str, tuple[Series, dict[str, str], Series]] = {
    "JanModelsModelFailed": (
        {'jan_models_models{organization_id="1",status="failed"}': "1x10"},
        {"organization_id": "1"},
        {
            'jan_models_models{organization_id="1",status="running"}': "1x10",
            'jan_models_models{organization_id="2",status="failed"}': "0x10",
        },
    ),
    "JanModelsModelDegraded": (
        {'jan_models_models{organization_id="7",status="degraded"}': "1x10"},
        {"organization_id": "7"},
        # degraded for one minute only, shorter than its `for:`
        {'jan_models_models{organization_id="7",status="degraded"}': "0x8 1 1"},
    ),
    "JanModelsModelDriftRepeated": (
        {'jan_models_inventory_model_drifts_total{namespace="jan-models",name="qwen"}': "0+1x10"},
        {"namespace": "jan-models", "name": "qwen"},
        {'jan_models_inventory_model_drifts_total{namespace="jan-models",name="qwen"}': "0x5 1x5"},
    ),
    # the counter appears at its first drift: drifts that start it count too
    "JanModelsModelDriftRepeated appearing": (
        {
            'jan_models_inventory_model_drifts_total{namespace="jan-models",name="qwen"}': "_x6 1 2 3 3"
        },
        {"namespace": "jan-models", "name": "qwen"},
        {
            'jan_models_inventory_model_drifts_total{namespace="jan-models",name="qwen"}': "_x6 1 2 2 2"
        },
    ),
    "JanModelsOutboxStale": (
        {"jan_models_api_outbox_oldest_seconds": "0+60x10"},
        {},
        {"jan_models_api_outbox_oldest_seconds": "0 5 1 0 3 0 0 2 0 0 1"},
    ),
    "JanModelsDeployerBacklogGrowing": (
        {"jan_models_deployer_command_backlog": "1+5x10"},
        {},
        {"jan_models_deployer_command_backlog": "40x10"},  # large but steady: being worked off
    ),
    "JanModelsInventoryLagHigh": (
        {
            'jan_models_inventory_watch_lag_seconds_bucket{kind="pods",le="1"}': "0x10",
            'jan_models_inventory_watch_lag_seconds_bucket{kind="pods",le="30"}': "0x10",
            'jan_models_inventory_watch_lag_seconds_bucket{kind="pods",le="60"}': "0+10x10",
            'jan_models_inventory_watch_lag_seconds_bucket{kind="pods",le="+Inf"}': "0+10x10",
        },
        {},
        {
            'jan_models_inventory_watch_lag_seconds_bucket{kind="pods",le="1"}': "0+10x10",
            'jan_models_inventory_watch_lag_seconds_bucket{kind="pods",le="30"}': "0+10x10",
            'jan_models_inventory_watch_lag_seconds_bucket{kind="pods",le="60"}': "0+10x10",
            'jan_models_inventory_watch_lag_seconds_bucket{kind="pods",le="+Inf"}': "0+10x10",
        },
    ),
    "JanModelsWatchNotSynced": (
        {'jan_models_inventory_watch_synced{kind="pods"}': "0x10"},
        {"kind": "pods"},
        {'jan_models_inventory_watch_synced{kind="pods"}': "0 0 1x8"},
    ),
    "JanModelsGpusExhausted": (
        {
            'jan_models_gpu_free{node="a",product="NVIDIA-L4"}': "0x10",
            'jan_models_gpu_free{node="b",product="NVIDIA-L4"}': "1x10",
            'jan_models_node_schedulable{node="a",reason="ready"}': "1x10",
            'jan_models_node_schedulable{node="b",reason="cordoned"}': "0x10",
        },
        {"product": "NVIDIA-L4"},
        {
            'jan_models_gpu_free{node="a",product="NVIDIA-L4"}': "0x10",
            'jan_models_gpu_free{node="b",product="NVIDIA-L4"}': "1x10",
            'jan_models_node_schedulable{node="a",reason="ready"}': "1x10",
            'jan_models_node_schedulable{node="b",reason="ready"}': "1x10",
        },
    ),
    "JanModelsOrganizationAtQuota": (
        {
            'jan_models_quota_gpus{organization_id="3",kind="used"}': "8x10",
            'jan_models_quota_gpus{organization_id="3",kind="limit"}': "8x10",
        },
        {"organization_id": "3"},
        {
            'jan_models_quota_gpus{organization_id="3",kind="used"}': "7x10",
            'jan_models_quota_gpus{organization_id="3",kind="limit"}': "8x10",
        },
    ),
}


def _severity(alert: str) -> str:
    for group in yaml.safe_load(render_rules_file(SHORT))["groups"]:
        for rule in group["rules"]:
            if rule["alert"] == alert:
                return str(rule["labels"]["severity"])
    raise KeyError(alert)


def _series(values: Series) -> list[dict[str, str]]:
    return [{"series": series, "values": v} for series, v in values.items()]


def _alerts_query(alert: str, state: str) -> str:
    return f'ALERTS{{alertname="{alert}",alertstate="{state}"}}'


def _test_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for case, (firing, labels, quiet) in CASES.items():
        alert = case.split()[0]
        all_labels = {"alertname": alert, "alertstate": "firing", **labels}
        all_labels["severity"] = _severity(alert)
        rendered = ",".join(f'{k}="{v}"' for k, v in sorted(all_labels.items()))
        groups.append(
            {
                "name": f"{case} fires",
                "interval": "1m",
                "input_series": _series(firing),
                "promql_expr_test": [
                    {
                        "expr": _alerts_query(alert, "firing"),
                        "eval_time": EVAL,
                        "exp_samples": [{"labels": f"ALERTS{{{rendered}}}", "value": 1}],
                    }
                ],
            }
        )
        groups.append(
            {
                "name": f"{case} stays quiet",
                "interval": "1m",
                "input_series": _series(quiet),
                "alert_rule_test": [{"eval_time": EVAL, "alertname": alert, "exp_alerts": []}],
            }
        )
    return groups


def test_the_committed_rule_and_dashboard_files_are_what_the_generator_writes() -> None:
    for relative, text in generated_files().items():
        assert (ROOT / relative).read_text() == text, f"run `python -m jan_models.ops`: {relative}"


def test_promtool_accepts_the_committed_rules() -> None:
    result = promtool("check", "rules", ROOT / RULES_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    assert sorted({case.split()[0] for case in CASES}) == sorted(alert_names())


def test_each_alert_fires_on_its_condition_and_stays_quiet_otherwise(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(render_rules_file(SHORT))
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": _test_groups()}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_failed_model_is_pending_before_its_for_duration_has_passed(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(render_rules_file(AlertSettings(model_failed_for="5m")))
    failed = 'jan_models_models{organization_id="1",status="failed"}'
    test = {
        "interval": "1m",
        "input_series": [{"series": failed, "values": "1x10"}],
        "promql_expr_test": [
            {
                "expr": 'ALERTS{alertname="JanModelsModelFailed"}',
                "eval_time": "2m",
                "exp_samples": [
                    {
                        "labels": 'ALERTS{alertname="JanModelsModelFailed",alertstate="pending",'
                        'organization_id="1",severity="warning"}',
                        "value": 1,
                    }
                ],
            }
        ],
    }
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [test]}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("broken", ["JanModelsOutboxStale"])
def test_the_quiet_cases_would_catch_an_alert_that_always_fires(
    tmp_path: Path, broken: str
) -> None:
    """The harness can fail: an expression that is always true breaks the quiet case."""
    rules = yaml.safe_load(render_rules_file(SHORT))
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule["alert"] == broken:
                rule["expr"] = "vector(1)"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    quiet = [g for g in _test_groups() if g["name"] == f"{broken} stays quiet"]
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": quiet}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    assert promtool("test", "rules", "tests.yaml", cwd=tmp_path).returncode != 0
