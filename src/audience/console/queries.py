"""Aggregates only the console shows: counts per type, platform and day. Everything else the
console reads through the features' own services and queries."""

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, func, select

from audience.tables import events, installations, persons


# SegmentEntered/SegmentLeft carry the segment id in their properties.
# SegmentEntered/SegmentLeft carry the segment id in their properties.
def _segment_id_property() -> ColumnElement[str]:
    return events.c.properties["segmentId"].as_string()


def persons_by_type(conn: Connection) -> dict[str, int]:
    query = select(persons.c.type, func.count()).group_by(persons.c.type)
    counts = {"IDENTIFIED": 0, "ANONYMOUS": 0}
    counts.update({row[0]: int(row[1]) for row in conn.execute(query)})
    return counts


def live_installations_by_platform(conn: Connection) -> dict[str, int]:
    query = (
        select(installations.c.platform, func.count())
        .where(installations.c.uninstalled_at.is_(None))
        .group_by(installations.c.platform)
        .order_by(installations.c.platform)
    )
    return {row[0]: int(row[1]) for row in conn.execute(query)}


def _day(value: object) -> str:
    """``date()`` answers a date on PostgreSQL and a string on SQLite."""
    return value.isoformat() if isinstance(value, date) else str(value)


def events_per_day(
    conn: Connection, since: datetime, person_ids: Sequence[str] | None = None
) -> dict[str, int]:
    day = func.date(events.c.occurred_at)
    query = select(day, func.count()).where(events.c.occurred_at >= since).group_by(day)
    if person_ids is not None:
        query = query.where(events.c.person_id.in_(person_ids))
    return {_day(row[0]): int(row[1]) for row in conn.execute(query)}


def top_event_definitions(conn: Connection, since: datetime, limit: int) -> list[tuple[str, int]]:
    count = func.count().label("n")
    query = (
        select(events.c.definition_id, count)
        .where(events.c.occurred_at >= since)
        .group_by(events.c.definition_id)
        .order_by(count.desc(), events.c.definition_id)
        .limit(limit)
    )
    return [(row[0], int(row[1])) for row in conn.execute(query)]


def segment_changes_per_day(conn: Connection, segment_id: str, since: datetime) -> dict[str, int]:
    """Net members gained per day (entered minus left) since ``since``."""
    day = func.date(events.c.occurred_at)
    query = (
        select(day, events.c.definition_id, func.count())
        .where(
            events.c.definition_id.in_(("SegmentEntered", "SegmentLeft")),
            events.c.occurred_at >= since,
            _segment_id_property() == segment_id,
        )
        .group_by(day, events.c.definition_id)
    )
    net: dict[str, int] = {}
    for raw_day, definition_id, n in conn.execute(query):
        sign = 1 if definition_id == "SegmentEntered" else -1
        net[_day(raw_day)] = net.get(_day(raw_day), 0) + sign * int(n)
    return net


def day_range(today: date, days: int) -> list[str]:
    return [(today - timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]
