"""SQL of retention: bounded deletes of old events and AppLaunch times."""

from datetime import datetime

from sqlalchemy import Connection, delete, select

from audience.tables import app_launches, events


def delete_events_before(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Up to ``limit`` events older than ``cutoff``, lowest ids first (ids grow with time, so
    the scan stops early without an index on ``occurred_at``)."""
    doomed = (
        select(events.c.id)
        .where(events.c.occurred_at < cutoff)
        .order_by(events.c.id)
        .limit(limit)
        .scalar_subquery()
    )
    result = conn.execute(
        delete(events).where(events.c.occurred_at < cutoff, events.c.id.in_(doomed))
    )
    return int(result.rowcount or 0)


def delete_launches_before(conn: Connection, cutoff: datetime) -> None:
    conn.execute(delete(app_launches).where(app_launches.c.occurred_at < cutoff))
