"""Every file in deploy/ that is generated, by path relative to the repository root."""

from jan_models.ops.alerts import AlertSettings, render_prometheus_rule, render_rules_file

RULES_FILE = "deploy/prometheus/jan-models-rules.yaml"
PROMETHEUS_RULE = "deploy/prometheus/prometheusrule.yaml"


def generated_files() -> dict[str, str]:
    settings = AlertSettings()
    return {
        RULES_FILE: render_rules_file(settings),
        PROMETHEUS_RULE: render_prometheus_rule(settings),
    }
