"""Identifier and secret generation."""

import hashlib
import os
import secrets
import time
import uuid


def new_id() -> str:
    """An opaque, unguessable 36-character id (never reused)."""
    return str(uuid.uuid4())


_RANDOM_B = (1 << 62) - 1


def new_time_ordered_id() -> str:
    """The same 36-character form, laid out as a UUIDv7 (RFC 9562): the creation time in
    milliseconds first, then 74 random bits (still unguessable, never reused). Rows created
    together get neighbouring keys, so a bulk insert appends to the ends of the primary key
    and of every index that leads with the id instead of writing at random places in B-trees
    that no longer fit in memory (docs/performance.md, issue 18)."""
    random = int.from_bytes(os.urandom(10), "big")
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76
        | ((random >> 62) & 0xFFF) << 64
        | 0b10 << 62
        | random & _RANDOM_B
    )
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


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
