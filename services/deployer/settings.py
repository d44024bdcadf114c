"""The deployer's settings, read from `JAN_MODELS_*` environment variables."""

from pydantic import Field

from shared.settings import ClusterClientSettings


class DeployerSettings(ClusterClientSettings):
    deployer_http_host: str = "127.0.0.1"
    deployer_http_port: int = Field(default=8081, ge=0, le=65535)

    deployer_batch_size: int = Field(default=128, ge=1, le=1024, description="Messages per fetch")
    deployer_concurrency: int = Field(
        default=32, ge=1, le=1024, description="Models applied at the same time"
    )
    deployer_max_ack_pending: int = Field(default=1024, ge=1)
    deployer_ack_wait: float = Field(default=60.0, gt=0, description="Seconds before redelivery")
    deployer_max_attempts: int = Field(
        default=12, ge=1, description="Deliveries of a transiently failing command before `failed`"
    )
    deployer_retry_base: float = Field(default=0.5, gt=0, description="First nak delay, seconds")
    deployer_retry_max: float = Field(default=30.0, gt=0, description="Longest nak delay, seconds")
    deployer_request_timeout: float = Field(
        default=30.0, gt=0, description="Timeout of one Kubernetes request, seconds"
    )
    deployer_crd_cache_seconds: float = Field(
        default=30.0, ge=0, description="How long a CRD's presence is trusted before asking again"
    )
    deployer_backlog_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often the command backlog gauge asks JetStream"
    )
