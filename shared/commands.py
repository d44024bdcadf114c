"""Commands the api publishes on MODEL_COMMANDS and the deployer carries out.

Each command carries everything the deployer needs, so the deployer stays stateless.
`msg_id` is the `Nats-Msg-Id` header that lets JetStream drop a re-published duplicate.
"""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.model_spec import DeploymentConfig, DnsLabel, Requirements
from shared.names import CREATE_SUBJECT, DEFAULT_NAMESPACE, DELETE_SUBJECT
from shared.tracing import TRACEPARENT_PATTERN

PublicId = Annotated[str, Field(pattern=r"^mdl_[a-z0-9]{12}$", examples=["mdl_abc123def456"])]


def utcnow() -> datetime:
    return datetime.now(UTC)


class ModelRef(BaseModel):
    """Who a command or event is about; the first fields of every event's data too."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organization_id: int = Field(ge=0, examples=[123])
    model_id: int = Field(ge=1, examples=[1])
    public_id: PublicId
    name: DnsLabel = Field(examples=["qwen3-coder-30b"])
    namespace: DnsLabel = Field(default=DEFAULT_NAMESPACE, examples=[DEFAULT_NAMESPACE])
    generation: int = Field(ge=1, description="Bumped each time the desired state changes")


class CommandBase(ModelRef):
    """What every command carries beyond the model's identity."""

    verb: str
    attempt: int = Field(
        default=0,
        ge=0,
        description=(
            "0 for a generation's first command; a re-publish of the same generation that "
            "must not be dropped as a duplicate (a repair, a user's repeated DELETE) counts 1, 2..."
        ),
    )
    issued_at: datetime = Field(default_factory=utcnow)
    traceparent: str | None = Field(
        default=None,
        pattern=TRACEPARENT_PATTERN,
        description="W3C trace context of the request that caused the command",
    )

    @property
    def msg_id(self) -> str:
        """`<public_id>:<verb>:<generation>`, and `:<attempt>` after it for a re-publish, so
        JetStream drops a relay's duplicate but not a deliberate second command."""
        first = f"{self.public_id}:{self.verb}:{self.generation}"
        return f"{first}:{self.attempt}" if self.attempt else first


class CreateModel(CommandBase):
    """Apply (create or update) every Kubernetes object of a model."""

    verb: Literal["create"] = "create"
    huggingface_id: Annotated[str, Field(max_length=256)] = ""
    requirements: Requirements = Requirements()
    deployment_config: DeploymentConfig
    cause: Literal["create", "update", "repair"] = Field(
        default="create",
        description=(
            "Why it is sent; a repair re-applies the registry's desired state after drift, "
            "keeping the generation (so no pod restarts unless its Deployment was lost)"
        ),
    )
    hf_token_encrypted: str | None = Field(
        default=None,
        description="Fernet token of the Hugging Face token; only the deployer decrypts it",
    )
    secret_env_encrypted: str | None = Field(
        default=None,
        description="Fernet token of the secret extra_env values (a JSON object by name); "
        "only the deployer decrypts it. The names stay out of deployment_config.extra_env",
    )
    planned_nodes: list[str] = Field(
        default=[],
        description="Nodes admission reserved the starting replicas on (preferred node affinity)",
    )
    restarted_at: datetime | None = Field(
        default=None,
        description="When the user last asked for a restart: the pod template's "
        "`jan-models/restarted-at` annotation, kept by every later generation",
    )

    @property
    def subject(self) -> str:
        return CREATE_SUBJECT


class DeleteModel(CommandBase):
    """Remove every object labelled with the model's public id."""

    verb: Literal["delete"] = "delete"

    @property
    def subject(self) -> str:
        return DELETE_SUBJECT


Command = Annotated[CreateModel | DeleteModel, Field(discriminator="verb")]
