"""Settings of the inventory, from `JAN_MODELS_*` environment variables."""

from pydantic import Field

from shared.settings import ClusterClientSettings


class InventorySettings(ClusterClientSettings):
    inventory_http_host: str = "127.0.0.1"
    inventory_http_port: int = Field(default=8082, ge=0, le=65535)
    inventory_leader_lease_seconds: float | None = Field(
        default=None,
        ge=1,
        description=(
            "Set when several replicas run: one leads through a NATS KV lease this long; "
            "unset, the process is alone and always leads"
        ),
    )
    # Watching.
    inventory_watch_timeout_seconds: int = Field(default=300, ge=1)
    inventory_list_page_size: int = Field(default=1000, ge=1)
    inventory_backoff_initial_seconds: float = Field(default=0.2, gt=0)
    inventory_backoff_max_seconds: float = Field(default=10.0, gt=0)
    # Writing projections.
    inventory_write_batch_size: int = Field(default=1000, ge=1)
    inventory_flush_interval_seconds: float = Field(default=0.02, gt=0)
    # Judging model health.
    inventory_crashloop_restart_threshold: int = Field(default=3, ge=1)
    inventory_unschedulable_timeout_seconds: float = Field(default=300.0, ge=0)
    inventory_drift_grace_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How long a vanished Deployment waits for a `deleting` event before it is drift",
    )
