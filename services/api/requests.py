"""The seed's create request: the shared spec types plus what only the api sees.

The Hugging Face token lives only here, as a `SecretStr`; it is encrypted before it
leaves the request and never stored, echoed or logged in clear.
"""

from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from shared.model_spec import (
    DeploymentConfig,
    ModelName,
    Requirements,
    ShortText,
    Strict,
    is_secret_env_name,
)

Tag = Annotated[str, Field(min_length=1, max_length=64)]


class DeploymentConfigRequest(DeploymentConfig):
    hugging_face_token: Annotated[SecretStr | None, Field(max_length=4096)] = None

    @field_validator("hugging_face_token", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        return None if value == "" else value

    def spec(self) -> DeploymentConfig:
        """The desired state without the token and the secret `extra_env` values, as the
        registry and the commands carry it."""
        fields = self.model_dump(exclude={"hugging_face_token"}, exclude_unset=True)
        if "extra_env" in fields:
            fields["extra_env"] = [
                e for e in fields["extra_env"] if not is_secret_env_name(e["name"])
            ]
        return DeploymentConfig.model_validate(fields)

    def secret_env(self) -> dict[str, SecretStr]:
        """The `extra_env` entries treated as secrets, by name (the last one wins)."""
        return {e.name: SecretStr(e.value) for e in self.extra_env if is_secret_env_name(e.name)}


class CreateModelRequest(Strict):
    name: ModelName = Field(examples=["qwen3-coder-30b"])
    display_name: ShortText = ""
    description: Annotated[str, Field(max_length=4096)] = ""
    model_type: Annotated[str, Field(max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")] = "completion"
    huggingface_id: Annotated[str, Field(max_length=256)] = ""
    requirements: Requirements = Requirements()
    deployment_config: DeploymentConfigRequest
    tags: Annotated[list[Tag], Field(max_length=32)] = []
    is_public: bool = False

    @property
    def effective_display_name(self) -> str:
        return self.display_name or self.name
