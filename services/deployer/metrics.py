"""Prometheus metrics of the deployer, served on `/metrics` of its small HTTP port."""

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

COMMANDS: Final = Counter(
    "jan_models_deployer_commands_total",
    "Commands handled, by verb and outcome",
    ["verb", "outcome"],
)
APPLY_SECONDS: Final = Histogram(
    "jan_models_deployer_apply_seconds",
    "Time to carry out one command against the cluster, by verb",
    ["verb"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
MALFORMED: Final = Counter(
    "jan_models_deployer_malformed_total",
    "Commands that could not be read, by whether their model could be identified",
    ["identified"],
)
EVENTS_PUBLISHED: Final = Counter(
    "jan_models_deployer_events_published_total", "Lifecycle events published, by type", ["type"]
)
COMMAND_BACKLOG: Final = Gauge(
    "jan_models_deployer_command_backlog",
    "Commands in MODEL_COMMANDS not yet delivered to the deployer consumer (JetStream"
    " num_pending), as last polled",
)
