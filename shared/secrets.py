"""Encryption of the Hugging Face token between the api and the deployer (Fernet)."""

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
