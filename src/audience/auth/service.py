"""API key rules: creation (the key is shown once), revocation, bootstrap, authentication."""

from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from audience.auth import queries
from audience.auth.principals import ApiKeyPrincipal
from audience.clock import isoformat, utcnow
from audience.errors import ApiError
from audience.ids import hash_secret, new_api_key, new_id

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
        raise ApiError(409, "API_KEY_EXISTS", f"An API key named '{name}' exists", "name") from None
    row = queries.find_by_id(conn, key_id)
    assert row is not None
    return key_to_api(row) | {"key": secret}


def revoke_key(conn: Connection, key_id: str) -> None:
    if queries.find_by_id(conn, key_id) is None:
        raise ApiError(404, "NOT_FOUND", "No such API key")
    queries.revoke(conn, key_id, utcnow())


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
