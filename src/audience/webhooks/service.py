"""Webhook rules: endpoints (types, URL, secret), and redelivery."""

import base64
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row

from audience import outbox
from audience.clock import isoformat, utcnow
from audience.errors import not_found, validation_error
from audience.events.queries import find_definitions
from audience.events.standard import STANDARD_EVENTS
from audience.ids import new_id
from audience.webhooks import queries
from audience.webhooks.guard import check_url
from audience.webhooks.publish import ALL_TYPES, PERSON_TYPES, TOPIC_DELIVER

MAX_TYPES = 100


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes (docs/webhooks.md: ≥ 24)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def endpoint_to_api(row: Row, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "url": row.url,
        "types": list(row.types),
        "description": row.description,
        "enabled": row.enabled,
        "disabledReason": row.disabled_reason,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def check_types(conn: Connection, types: Sequence[str]) -> list[str]:
    """Standard or defined event ids, ``person.*`` names or ``*``; unknown → 400 naming it."""
    if not types:
        raise validation_error("types needs at least one type", "types")
    if len(types) > MAX_TYPES:
        raise validation_error(f"At most {MAX_TYPES} types", "types")
    wanted = list(dict.fromkeys(types))
    custom = [t for t in wanted if t not in STANDARD_EVENTS | PERSON_TYPES | {ALL_TYPES}]
    known = {row[0] for row in find_definitions(conn, custom)} if custom else set()
    for index, type_ in enumerate(types):
        if type_ in custom and type_ not in known:
            raise validation_error(f"Unknown type {type_!r}", f"types.{index}")
    return wanted


def get_endpoint(conn: Connection, endpoint_id: str, for_update: bool = False) -> Row:
    row = queries.find_endpoint(conn, endpoint_id, for_update)
    if row is None:
        raise not_found("WEBHOOK_NOT_FOUND", "No such webhook endpoint")
    return row


def create_endpoint(
    conn: Connection,
    url: str,
    types: Sequence[str],
    description: str | None,
    enabled: bool,
    allow_private: bool,
) -> dict[str, Any]:
    check_url(url, allow_private)
    now = utcnow()
    secret = new_secret()
    endpoint_id = new_id()
    queries.insert_endpoint(
        conn,
        id=endpoint_id,
        url=url,
        types=check_types(conn, types),
        description=description,
        enabled=enabled,
        secret=secret,
        created_at=now,
        updated_at=now,
    )
    return endpoint_to_api(get_endpoint(conn, endpoint_id), secret)


def update_endpoint(
    conn: Connection, endpoint_id: str, changes: dict[str, Any], allow_private: bool
) -> dict[str, Any]:
    get_endpoint(conn, endpoint_id, for_update=True)
    values: dict[str, Any] = {}
    if changes.get("url") is not None:
        check_url(changes["url"], allow_private)
        values["url"] = changes["url"]
    if changes.get("types") is not None:
        values["types"] = check_types(conn, changes["types"])
    if "description" in changes:
        values["description"] = changes["description"]
    if changes.get("enabled") is not None:
        values["enabled"] = changes["enabled"]
        if changes["enabled"]:  # switched on again: a fresh start
            values |= {"disabled_reason": None, "failing_since": None}
    if values:
        queries.update_endpoint(conn, endpoint_id, updated_at=utcnow(), **values)
    return endpoint_to_api(get_endpoint(conn, endpoint_id))


def rotate_secret(conn: Connection, endpoint_id: str) -> dict[str, Any]:
    get_endpoint(conn, endpoint_id, for_update=True)
    secret = new_secret()
    queries.update_endpoint(conn, endpoint_id, secret=secret, updated_at=utcnow())
    return endpoint_to_api(get_endpoint(conn, endpoint_id), secret)


def delete_endpoint(conn: Connection, endpoint_id: str) -> None:
    get_endpoint(conn, endpoint_id, for_update=True)
    queries.delete_endpoint(conn, endpoint_id)


def redeliver(conn: Connection, endpoint_id: str, delivery_id: str) -> None:
    """Send a delivery again now, whatever its status (same webhook-id and body)."""
    get_endpoint(conn, endpoint_id)
    if queries.find_delivery(conn, endpoint_id, delivery_id) is None:
        raise not_found("DELIVERY_NOT_FOUND", "No such delivery of this webhook endpoint")
    now = utcnow()
    queries.update_deliveries(
        conn, [{"id": delivery_id, "status": "pending", "next_attempt_at": now}]
    )
    outbox.enqueue(conn, TOPIC_DELIVER, {"deliveryId": delivery_id}, now)
