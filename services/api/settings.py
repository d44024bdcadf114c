"""The api's settings: `JAN_MODELS_API_*` plus what every service shares."""

from pydantic import Field

from shared.settings import BaseServiceSettings


class ApiSettings(BaseServiceSettings):
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    api_ops_host: str = "127.0.0.1"
    api_ops_port: int = Field(
        default=8083, ge=0, le=65535, description="Prometheus /metrics, apart from the API"
    )
    api_inventory_timeout: float = Field(
        default=2.0, gt=0, description="Seconds to wait for the inventory before a 503"
    )
    api_status_cache_seconds: float = Field(
        default=1.0, ge=0, description="How long a cluster status reply is reused by create"
    )
    api_key_cache_seconds: float = Field(
        default=2.0, ge=0, description="How long a verified key is trusted before it is re-read"
    )
    api_create_rate: float = Field(default=1000.0, gt=0, description="Creates per second per key")
    api_create_burst: int = Field(default=2000, ge=1, description="Creates a key may burst")
    api_max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    api_gzip_minimum_bytes: int = Field(
        default=4096,
        ge=0,
        description="Answers this large or larger are gzipped when accepted. Below a few TCP "
        "segments compression saves almost nothing on the wire, and costs the two ends more "
        "than it saves: a model's details (2.3 KB) took 0.24 ms longer end to end gzipped",
    )
    api_cors_origins: list[str] = Field(
        default=[], description="Origins a browser may call the API from; none (no CORS) if empty"
    )
    api_outbox_interval: float = Field(
        default=1.0, gt=0, description="Seconds between two sweeps of the pending outbox"
    )
    api_outbox_sweep_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between two sweeps of the outbox when nothing failed meanwhile",
    )
    api_outbox_grace: float = Field(
        default=2.0,
        ge=0,
        description="Seconds the request path's own publish gets before the sweep retries it",
    )
    api_events_buffer: int = Field(
        default=1024,
        ge=1,
        le=1_000_000,
        description="Events one stream client may fall behind by before its stream is closed",
    )
    api_events_keepalive_seconds: float = Field(
        default=15.0, gt=0, description="Seconds of quiet after which a stream sends a comment"
    )
    api_shutdown_grace_seconds: int = Field(
        default=5, ge=0, description="Seconds open requests (event streams) get on shutdown"
    )
