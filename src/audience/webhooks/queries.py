"""SQL of the webhooks feature: endpoints, deliveries, and the subscriptions lookup."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, func, insert, or_, select, update

from audience import configuration
from audience.db import DriverStatement
from audience.tables import events
from audience.tables import webhook_deliveries as deliveries
from audience.tables import webhook_endpoints as endpoints

_CHUNK = 1000

# Run by every transaction that may publish (each ingested batch): on the driver directly.
_SUBSCRIPTIONS = DriverStatement("SELECT id, types FROM webhook_endpoints WHERE enabled = ?")


configuration.part(
    "webhooks",
    "SELECT id, types AS value FROM webhook_endpoints WHERE enabled = 1",
    "SELECT id, CAST(types AS TEXT) AS value FROM webhook_endpoints WHERE enabled",
)


def subscriptions(conn: Connection) -> list[tuple[str, list[str]]]:
    """Every enabled endpoint's id and subscribed types."""
    rows = configuration.preloaded(conn, "webhooks")
    if rows is None:
        rows = _SUBSCRIPTIONS.run(conn, (True,)).fetchall()
    return [(eid, json.loads(types) if isinstance(types, str) else types) for eid, types in rows]


def insert_endpoint(conn: Connection, **values: Any) -> None:
    conn.execute(insert(endpoints).values(**values))


def find_endpoint(conn: Connection, endpoint_id: str, for_update: bool = False) -> Row | None:
    query = select(endpoints).where(endpoints.c.id == endpoint_id)
    return conn.execute(query.with_for_update() if for_update else query).first()


def find_endpoints(conn: Connection, endpoint_ids: Sequence[str]) -> dict[str, Row]:
    rows = conn.execute(select(endpoints).where(endpoints.c.id.in_(list(endpoint_ids))))
    return {row.id: row for row in rows}


def list_endpoints(conn: Connection, after: str | None, limit: int) -> list[Row]:
    query = select(endpoints).order_by(endpoints.c.id).limit(limit + 1)
    if after is not None:
        query = query.where(endpoints.c.id > after)
    return list(conn.execute(query))


def update_endpoint(conn: Connection, endpoint_id: str, **values: Any) -> None:
    conn.execute(update(endpoints).where(endpoints.c.id == endpoint_id).values(**values))


def delete_endpoint(conn: Connection, endpoint_id: str) -> None:
    conn.execute(delete(deliveries).where(deliveries.c.endpoint_id == endpoint_id))
    conn.execute(delete(endpoints).where(endpoints.c.id == endpoint_id))


def find_events(conn: Connection, event_ids: Sequence[int]) -> dict[int, Row]:
    found: dict[int, Row] = {}
    for start in range(0, len(event_ids), _CHUNK):
        chunk = list(event_ids[start : start + _CHUNK])
        found.update(
            (row.id, row) for row in conn.execute(select(events).where(events.c.id.in_(chunk)))
        )
    return found


def insert_deliveries(conn: Connection, rows: list[dict[str, Any]]) -> list[str]:
    """Insert the deliveries not stored yet (a fan-out run again after a crash finds its own
    earlier rows by (endpoint, message)); answers the ids of the new ones."""
    if not rows:
        return []
    message_ids = sorted({row["message_id"] for row in rows})
    existing: set[tuple[str, str]] = set()
    for start in range(0, len(message_ids), _CHUNK):  # within every backend's parameter limit
        chunk = message_ids[start : start + _CHUNK]
        existing.update(
            (endpoint_id, message_id)
            for endpoint_id, message_id in conn.execute(
                select(deliveries.c.endpoint_id, deliveries.c.message_id).where(
                    deliveries.c.message_id.in_(chunk)
                )
            )
        )
    fresh = [row for row in rows if (row["endpoint_id"], row["message_id"]) not in existing]
    if fresh:
        conn.execute(insert(deliveries), fresh)
    return [row["id"] for row in fresh]


def find_deliveries(conn: Connection, delivery_ids: Sequence[str]) -> dict[str, Row]:
    rows = conn.execute(select(deliveries).where(deliveries.c.id.in_(list(delivery_ids))))
    return {row.id: row for row in rows}


def find_delivery(conn: Connection, endpoint_id: str, delivery_id: str) -> Row | None:
    query = select(deliveries).where(
        deliveries.c.id == delivery_id, deliveries.c.endpoint_id == endpoint_id
    )
    return conn.execute(query).first()


def list_deliveries(
    conn: Connection,
    endpoint_id: str,
    after: tuple[datetime, str] | None,
    limit: int,
    status: str | None = None,
) -> list[Row]:
    """Newest first."""
    query = (
        select(deliveries)
        .where(deliveries.c.endpoint_id == endpoint_id)
        .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
        .limit(limit + 1)
    )
    if status is not None:
        query = query.where(deliveries.c.status == status)
    if after is not None:
        at, delivery_id = after
        query = query.where(
            or_(
                deliveries.c.created_at < at,
                and_(deliveries.c.created_at == at, deliveries.c.id < delivery_id),
            )
        )
    return list(conn.execute(query))


def update_deliveries(conn: Connection, changes: Sequence[dict[str, Any]]) -> None:
    """One update per delivery (each carries its own ``id`` and values)."""
    for change in changes:
        values = {k: v for k, v in change.items() if k != "id"}
        conn.execute(update(deliveries).where(deliveries.c.id == change["id"]).values(**values))


def pending_stats(conn: Connection) -> tuple[int, datetime | None]:
    """Deliveries still pending and when the oldest of them was created."""
    count, oldest = conn.execute(
        select(func.count(), func.min(deliveries.c.created_at)).where(
            deliveries.c.status == "pending"
        )
    ).one()
    return int(count), oldest
