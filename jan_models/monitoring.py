"""A real Prometheus scraping the local stack, for `jan-models dev --prometheus` and tests.

Prometheus is Debian's `prometheus` package (`make test` installs it). It runs as a child
process on a loopback port, with a configuration written here: one job per service, the
alert rules from `jan_models.ops.alerts` (durations as given), and its data under the
stack's data directory.
"""

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from jan_models.embedded import EmbeddedServer, EmbeddedServerError
from jan_models.ops.alerts import AlertSettings, render_rules_file
from jan_models.stack import ServiceName


def scrape_config(
    targets: Mapping[ServiceName, str],
    *,
    rule_file: Path,
    scrape_interval: str,
    evaluation_interval: str,
) -> dict[str, object]:
    """One job per service, named after it; `targets` maps a service to its metrics URL."""
    jobs = []
    for service, url in targets.items():
        parts = urlsplit(url)
        jobs.append(
            {
                "job_name": service,
                "metrics_path": parts.path,
                "static_configs": [{"targets": [parts.netloc]}],
            }
        )
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
        "rule_files": [str(rule_file)],
        "scrape_configs": jobs,
    }


@dataclass
class EmbeddedPrometheus(EmbeddedServer):
    targets: Mapping[ServiceName, str] = field(default_factory=dict)
    data_dir: Path = Path(".jan-models/prometheus")
    alerts: AlertSettings = field(default_factory=AlertSettings)
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"

    def command(self) -> list[str]:
        binary = shutil.which("prometheus")
        if binary is None:
            raise EmbeddedServerError(
                "prometheus not found: `make test` installs it (apt-get install prometheus)"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        rule_file = self.data_dir / "jan-models-rules.yaml"
        rule_file.write_text(render_rules_file(self.alerts))
        config_file = self.data_dir / "prometheus.yml"
        config = scrape_config(
            self.targets,
            rule_file=rule_file,
            scrape_interval=self.scrape_interval,
            evaluation_interval=self.evaluation_interval,
        )
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        return [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self.data_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
