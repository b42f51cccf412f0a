"""Encryption at rest of push credentials, with a Fernet key derived from the secret key.

The derivation is a plain SHA-256 of ``AUDIENCE_SECRET_KEY``: the key is required to be long
(≥ 32 characters), so stretching buys nothing, and every process derives the same key.
"""

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from audience.errors import ApiError

MIN_SECRET_KEY_LENGTH = 32


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"audience-push-credentials:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def require_secret_key(secret_key: str) -> None:
    """Refuse to store credentials that could not be encrypted (or only with a weak key)."""
    if len(secret_key) < MIN_SECRET_KEY_LENGTH:
        raise ApiError(
            409,
            "SECRET_KEY_REQUIRED",
            "Push credentials are stored encrypted: set AUDIENCE_SECRET_KEY to a random string "
            f"of at least {MIN_SECRET_KEY_LENGTH} characters and restart the server",
        )


def encrypt(secret_key: str, value: dict[str, Any]) -> str:
    require_secret_key(secret_key)
    return _fernet(secret_key).encrypt(json.dumps(value).encode()).decode()


class CredentialsUnreadable(Exception):
    """The secret key changed (or is unset) since the credentials were stored."""


def decrypt(secret_key: str, token: str) -> dict[str, Any]:
    if len(secret_key) < MIN_SECRET_KEY_LENGTH:
        raise CredentialsUnreadable("AUDIENCE_SECRET_KEY is not set")
    try:
        value: dict[str, Any] = json.loads(_fernet(secret_key).decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsUnreadable(
            "push credentials were stored under another AUDIENCE_SECRET_KEY"
        ) from None
    return value
