from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from shared import crds
from shared.errors import (
    CrdMissingError,
    InsufficientResourcesError,
    NotInClusterError,
    ServedModelNameMismatchError,
)
from shared.kubernetes import resolve_kubeconfig
from shared.labels import model_labels
from shared.secrets import TokenCipher, TokenDecryptionError
from shared.settings import DEV_ENCRYPTION_KEY, BaseServiceSettings


def test_error_texts_are_the_seeds_to_the_letter() -> None:
    assert (
        NotInClusterError().message
        == "models API only available when running in Kubernetes cluster"
    )
    assert (
        CrdMissingError(crds.AIBRIX).message
        == "aibrix CRD not found - required for model deployment"
    )
    assert (
        InsufficientResourcesError(min_gpus=2, min_vram_bytes=48 * 2**30).message
        == "no GPU node can satisfy the requirements: min 2 GPUs with 48Gi VRAM"
    )
    assert (
        ServedModelNameMismatchError(served_name="wrong-name", model_name="qwen3-coder-30b").message
        == "--served-model-name 'wrong-name' must match model name 'qwen3-coder-30b' (required by Aibrix for autoscaling)"
    )


def test_every_managed_object_label_is_present() -> None:
    assert model_labels(
        name="qwen3-coder-30b", organization_id=123, public_id="mdl_abc123def456"
    ) == {
        "model.aibrix.ai/name": "qwen3-coder-30b",
        "model.aibrix.ai/port": "8000",
        "jan-server.menlo.ai/managed": "true",
        "jan-server.menlo.ai/organization-id": "123",
        "jan-server.menlo.ai/model-id": "mdl_abc123def456",
        "app.kubernetes.io/managed-by": "jan-models",
    }


def test_production_refuses_the_published_dev_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAN_MODELS_ENVIRONMENT", "production")

    with pytest.raises(ValidationError, match="JAN_MODELS_ENCRYPTION_KEY"):
        BaseServiceSettings()


def test_settings_come_from_jan_models_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAN_MODELS_ENVIRONMENT", "production")
    monkeypatch.setenv("JAN_MODELS_ENCRYPTION_KEY", "x" * 43 + "=")
    monkeypatch.setenv("JAN_MODELS_NATS_URL", "nats://nats:4222")

    settings = BaseServiceSettings()

    assert settings.nats_url == "nats://nats:4222"
    assert settings.encryption_key.get_secret_value() != DEV_ENCRYPTION_KEY


def test_a_token_round_trips_through_the_cipher_and_not_with_another_key() -> None:
    cipher = TokenCipher(SecretStr(DEV_ENCRYPTION_KEY))
    encrypted = cipher.encrypt(SecretStr("hf_secret_value_123"))

    assert "hf_secret" not in encrypted
    assert cipher.decrypt(encrypted).get_secret_value() == "hf_secret_value_123"
    with pytest.raises(TokenDecryptionError):
        TokenCipher(SecretStr("A" * 43 + "=")).decrypt(encrypted)


@pytest.mark.parametrize(
    ("explicit", "environ", "expected"),
    [
        (
            Path("/etc/k.yaml"),
            {"KUBECONFIG": "/x", "KUBERNETES_SERVICE_HOST": "10.0.0.1"},
            "/etc/k.yaml",
        ),
        (None, {"KUBECONFIG": "/x", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}, "/x"),
        (None, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, None),
        (None, {}, str(Path("~/.kube/config").expanduser())),
    ],
    ids=["setting", "KUBECONFIG", "in-cluster", "home"],
)
def test_one_kubeconfig_rule_for_deployer_and_inventory(
    explicit: Path | None, environ: dict[str, str], expected: str | None
) -> None:
    resolved = resolve_kubeconfig(explicit, environ)

    assert (str(resolved) if resolved else None) == expected
