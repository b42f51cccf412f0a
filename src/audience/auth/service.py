"""API key rules: creation (the key is shown once), revocation, bootstrap, authentication."""

from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from audience.auth import queries
from audience.auth.principals import ApiKeyPrincipal
from audience.clock import isoformat, utcnow
from audience.errors import ApiKeyExists, NotFound
from audience.ids import API_KEY_PREFIX, hash_secret, new_api_key, new_id

BOOTSTRAP_KEY_NAME = "bootstrap-admin"


def key_to_api(row: Row) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "scopes": sorted(row.scopes.split(",")),
        "prefix": row.key_prefix,
        "createdAt": isoformat(row.created_at),
        "revokedAt": isoformat(row.revoked_at),
    }


def create_key(conn: Connection, name: str, scopes: list[str]) -> dict[str, Any]:
    """Create a key; the answer is the only time the secret is ever shown."""
    secret = new_api_key()
    return _store_key(conn, name, scopes, secret)


def _store_key(conn: Connection, name: str, scopes: list[str], secret: str) -> dict[str, Any]:
    key_id = new_id()
    try:
        with conn.begin_nested():
            queries.insert_key(
                conn,
                id=key_id,
                name=name,
                key_hash=hash_secret(secret),
                key_prefix=secret[:10],
                scopes=",".join(sorted(set(scopes))),
                created_at=utcnow(),
            )
    except IntegrityError:
        raise ApiKeyExists(f"An API key named '{name}' exists", "name") from None
    row = queries.find_by_id(conn, key_id)
    assert row is not None
    return key_to_api(row) | {"key": secret}


def revoke_key(conn: Connection, key_id: str) -> None:
    if queries.find_by_id(conn, key_id) is None:
        raise NotFound("No such API key")
    queries.revoke(conn, key_id, utcnow())


def admin_key_problem(secret: str) -> str | None:
    """Why ``AUDIENCE_ADMIN_KEY`` cannot work, in one line; ``None`` if it can. Credentials
    are told apart by the ``ak_`` prefix (API key) or its absence (application code), so a key
    without it would be stored and then refused on every request."""
    if not secret.startswith(API_KEY_PREFIX) or len(secret) <= len(API_KEY_PREFIX):
        return (
            f"AUDIENCE_ADMIN_KEY must start with '{API_KEY_PREFIX}' followed by the secret "
            f"(e.g. {API_KEY_PREFIX}$(openssl rand -hex 24)): the prefix is how the server "
            "tells an API key from an application code"
        )
    if any(char.isspace() for char in secret):
        return "AUDIENCE_ADMIN_KEY must not contain spaces"
    return None


def ensure_bootstrap_key(conn: Connection, secret: str) -> None:
    """Store ``AUDIENCE_ADMIN_KEY`` as an admin key once; a revoked one stays revoked."""
    if queries.find_by_hash(conn, hash_secret(secret)) is not None:
        return
    name = BOOTSTRAP_KEY_NAME
    if queries.find_by_name(conn, name) is not None:
        name = f"{BOOTSTRAP_KEY_NAME}-{hash_secret(secret)[:8]}"
    _store_key(conn, name, ["admin"], secret)


def authenticate_key(conn: Connection, secret: str) -> ApiKeyPrincipal | None:
    row = queries.find_by_hash(conn, hash_secret(secret))
    if row is None or row.revoked_at is not None:
        return None
    return ApiKeyPrincipal(id=row.id, name=row.name, scopes=frozenset(row.scopes.split(",")))
