"""Encryption of the Hugging Face token and secret `extra_env` values between the api and
the deployer (Fernet)."""

import json

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr


class TokenDecryptionError(ValueError):
    def __init__(self) -> None:
        super().__init__("the encrypted token cannot be decrypted with this service's key")


class TokenCipher:
    def __init__(self, key: SecretStr) -> None:
        self._fernet = Fernet(key.get_secret_value().encode())

    def encrypt(self, token: SecretStr) -> str:
        return self._fernet.encrypt(token.get_secret_value().encode()).decode()

    def decrypt(self, encrypted: str) -> SecretStr:
        try:
            return SecretStr(self._fernet.decrypt(encrypted.encode()).decode())
        except InvalidToken as exc:
            raise TokenDecryptionError from exc

    def encrypt_values(self, values: dict[str, SecretStr]) -> str:
        plain = {name: value.get_secret_value() for name, value in values.items()}
        return self.encrypt(SecretStr(json.dumps(plain, sort_keys=True)))

    def decrypt_values(self, encrypted: str) -> dict[str, SecretStr]:
        try:
            plain = json.loads(self.decrypt(encrypted).get_secret_value())
        except json.JSONDecodeError as exc:
            raise TokenDecryptionError from exc
        if not isinstance(plain, dict):
            raise TokenDecryptionError
        return {str(name): SecretStr(str(value)) for name, value in plain.items()}
