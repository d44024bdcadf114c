"""Prometheus metrics of the inventory (served on `/metrics` by the probe routes)."""

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

WATCH_RESTARTS: Final = Counter(
    "jan_models_inventory_watch_restarts_total",
    "Watches started again from a fresh list, by kind and reason",
    ["kind", "reason"],
)
WATCH_EVENTS: Final = Counter(
    "jan_models_inventory_watch_events_total", "Watch events received, by kind", ["kind"]
)
BAD_OBJECTS: Final = Counter(
    "jan_models_inventory_bad_objects_total", "Watch events that could not be applied", ["kind"]
)
PROJECTION_LAG: Final = Histogram(
    "jan_models_inventory_projection_lag_seconds",
    "From receiving a watch event to its projection written in MongoDB",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PROJECTION_SIZE: Final = Gauge(
    "jan_models_inventory_projection_objects", "Objects held in each projection", ["kind"]
)
EVENTS_PUBLISHED: Final = Counter(
    "jan_models_inventory_events_published_total", "Lifecycle events published, by type", ["type"]
)
WATCH_LAG: Final = Histogram(
    "jan_models_inventory_watch_lag_seconds",
    "From the API server's last write of an object (its managedFields time, whole seconds)"
    " to the inventory receiving the watch event, by kind",
    ["kind"],
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
MODEL_DRIFTS: Final = Counter(
    "jan_models_inventory_model_drifts_total",
    "Drift found on a managed model's objects (a drifted event), by model; one series per"
    " model Deployment this process has seen drift",
    ["namespace", "name"],
)
LEADING: Final = Gauge(
    "jan_models_inventory_leading",
    "1 while this replica writes projections and publishes lifecycle events, 0 on standby",
)
