"""API keys: generated once, stored only as their SHA-256, compared in constant time."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

KEY_PREFIX: Final = "jm_"
DISPLAY_PREFIX_LENGTH: Final = len(KEY_PREFIX) + 8


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request's key belongs to: its organization, and the key (rate limits)."""

    organization_id: int
    key_id: str


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str
    key_hash: str
    prefix: str


def generate_key() -> NewKey:
    """`jm_` + 40 url-safe characters; the prefix is what `keys list` shows instead."""
    key = KEY_PREFIX + secrets.token_urlsafe(30)
    return NewKey(key=key, key_hash=hash_key(key), prefix=key[:DISPLAY_PREFIX_LENGTH])


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def hashes_match(candidate: str, stored: str) -> bool:
    return hmac.compare_digest(candidate.encode(), stored.encode())
