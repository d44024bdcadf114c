"""Counters of what the api publishes (request metrics live with the request layer)."""

from typing import Final

from prometheus_client import Counter

COMMANDS_PUBLISHED: Final = Counter(
    "jan_models_api_commands_published_total",
    "Commands the outbox relay published and JetStream acknowledged, by verb",
    ["verb"],
)
EVENTS_PUBLISHED: Final = Counter(
    "jan_models_api_events_published_total", "Lifecycle events published, by type", ["type"]
)
