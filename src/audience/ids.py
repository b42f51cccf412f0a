"""Identifier and secret generation."""

import hashlib
import secrets
import uuid


def new_id() -> str:
    """An opaque, unguessable 36-character id (never reused)."""
    return str(uuid.uuid4())


def new_application_code() -> str:
    return secrets.token_hex(32)


# The prefix tells an API key from an application code without a database lookup.
API_KEY_PREFIX = "ak_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_jwt_secret() -> str:
    return secrets.token_urlsafe(48)


def hash_secret(secret: str) -> str:
    """SHA-256 is enough for 256-bit random keys: there is nothing to brute-force."""
    return hashlib.sha256(secret.encode()).hexdigest()
