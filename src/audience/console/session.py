"""Console sessions: an opaque, signed cookie that names an API key without containing it.

The cookie is ``v1.<apiKeyId>.<expires>.<signature>``. The signature is an HMAC keyed with the
key's stored hash (plus ``AUDIENCE_CONSOLE_SECRET`` when set), so the raw key never leaves the
sign-in request, every worker process can check a session without shared state, and revoking
the key ends its sessions at once (the key is looked up on every request, like the API does).
"""

import hashlib
import hmac
import re
from dataclasses import dataclass

from sqlalchemy import Connection

from audience.auth import queries as key_queries
from audience.auth.principals import ApiKeyPrincipal
from audience.auth.service import authenticate_key

COOKIE_NAME = "audience_console"
_VERSION = "v1"
_EXPIRES = re.compile(r"[0-9]{1,12}", re.ASCII)
_KEY_ID = re.compile(r"[0-9a-f-]{1,36}", re.ASCII)
_SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)


@dataclass(frozen=True)
class ConsoleUser:
    key: ApiKeyPrincipal
    session: str
    csrf_token: str

    @property
    def can_write(self) -> bool:
        return self.key.allows("write")


def _mac(secret: str, key_hash: str, message: str) -> str:
    signing_key = hashlib.sha256(f"{secret}\x00{key_hash}".encode()).digest()
    return hmac.new(signing_key, message.encode(), hashlib.sha256).hexdigest()


def sign_in(conn: Connection, raw_key: str, secret: str, expires: int) -> str | None:
    """A session cookie value for a valid, unrevoked API key, else ``None``."""
    principal = authenticate_key(conn, raw_key.strip())
    if principal is None:
        return None
    row = key_queries.find_by_id(conn, principal.id)
    assert row is not None
    body = f"{_VERSION}.{principal.id}.{expires}"
    return f"{body}.{_mac(secret, row.key_hash, body)}"


def open_session(conn: Connection, cookie: str | None, secret: str, now: int) -> ConsoleUser | None:
    """The user a session cookie names, if its signature holds, it has not expired and its key
    is still valid."""
    if not cookie:
        return None
    parts = cookie.split(".")
    if len(parts) != 4 or parts[0] != _VERSION:
        return None
    _version, key_id, expires, signature = parts
    # Anything forged is just "not signed in": ASCII digits of a sane length (``isdigit()``
    # holds for "²", and ``int()`` refuses 5,000 digits), an id and a hex signature.
    if not _EXPIRES.fullmatch(expires) or not _KEY_ID.fullmatch(key_id):
        return None
    if not _SIGNATURE.fullmatch(signature) or int(expires) <= now:
        return None
    row = key_queries.find_by_id(conn, key_id)
    if row is None or row.revoked_at is not None:
        return None
    body = f"{_VERSION}.{key_id}.{expires}"
    if not hmac.compare_digest(_mac(secret, row.key_hash, body), signature):
        return None
    principal = ApiKeyPrincipal(id=row.id, name=row.name, scopes=frozenset(row.scopes.split(",")))
    csrf = _mac(secret, row.key_hash, f"csrf.{cookie}")[:32]
    return ConsoleUser(key=principal, session=cookie, csrf_token=csrf)
