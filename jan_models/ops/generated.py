"""Every file in deploy/ that is generated, by path relative to the repository root.

grafana-foundation-sdk is a development dependency: only this tooling imports it.
"""

from jan_models.ops.alerts import AlertSettings, render_prometheus_rule, render_rules_file
from jan_models.ops.dashboards import dashboard_files

RULES_FILE = "deploy/prometheus/jan-models-rules.yaml"
PROMETHEUS_RULE = "deploy/prometheus/prometheusrule.yaml"


def generated_files() -> dict[str, str]:
    settings = AlertSettings()
    return {
        RULES_FILE: render_rules_file(settings),
        PROMETHEUS_RULE: render_prometheus_rule(settings),
        **dashboard_files(),
    }
