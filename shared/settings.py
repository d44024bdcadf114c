"""Settings every service shares, read from `JAN_MODELS_*` environment variables.

Each service subclasses `BaseServiceSettings` with its own fields. The defaults are safe
for `dev`; outside dev and test a service refuses to start with the published dev key.
"""

from pathlib import Path
from typing import Final, Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.names import DEFAULT_DATABASE

# Published on purpose: it only protects tokens on a laptop running `jan-models dev`.
DEV_ENCRYPTION_KEY: Final = "amFuLW1vZGVscy1kZXYta2V5LW5vdC1hLXNlY3JldCE="

Environment = Literal["dev", "test", "production"]


class DefaultSecretError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"JAN_MODELS_{name.upper()} still has its published development value; "
            "set a secret of your own before running outside dev "
            '(python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
        )


class BaseServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JAN_MODELS_", extra="ignore", frozen=True)

    environment: Environment = "dev"
    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        description="One NATS server, or a cluster's servers separated by commas",
    )
    stream_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        description="JetStream replicas of each stream: 3 on a three-node NATS cluster",
    )
    mongodb_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongodb_database: str = DEFAULT_DATABASE
    encryption_key: SecretStr = SecretStr(DEV_ENCRYPTION_KEY)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"

    @model_validator(mode="after")
    def _refuse_default_secrets_outside_dev(self) -> Self:
        if self.environment == "production" and (
            self.encryption_key.get_secret_value() == DEV_ENCRYPTION_KEY
        ):
            raise DefaultSecretError("encryption_key")
        return self


class ClusterClientSettings(BaseServiceSettings):
    """Settings of a service that talks to the Kubernetes API (the deployer, the inventory)."""

    kubeconfig: Path | None = Field(
        default=None,
        description=(
            "Kubeconfig path; else KUBECONFIG, else the in-cluster service account, "
            "else ~/.kube/config (shared.kubernetes.resolve_kubeconfig)"
        ),
    )
