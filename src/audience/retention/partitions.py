"""Monthly range partitions of the PostgreSQL ``events`` table.

Partitions are named ``events_pYYYYMM`` and hold ``[first of the month, first of the next)``.
A ``events_default`` partition catches a row no monthly partition covers (a worker that was
off for months, a historical import), so an insert never fails for want of a partition;
:func:`create_month` moves such rows into the month's partition when it is created.
"""

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import Connection

CREATE_PARTITIONED_EVENTS = """
CREATE TABLE events (
    id bigint NOT NULL DEFAULT nextval('events_id_seq'),
    person_id varchar(36) NOT NULL,
    push_registration_id varchar(36),
    definition_id varchar(36) NOT NULL,
    occurred_at timestamp NOT NULL,
    received_at timestamp NOT NULL,
    event_id varchar(36),
    properties jsonb NOT NULL,
    CONSTRAINT pk_events PRIMARY KEY (id, occurred_at),
    CONSTRAINT uq_events_installation_event_id
        UNIQUE (push_registration_id, event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX ix_events_person_id_occurred_at ON events (person_id, occurred_at);
CREATE TABLE events_default PARTITION OF events DEFAULT;
"""
# Months kept ready ahead of the current one (mobile events may come 5 minutes early).
MONTHS_AHEAD = 2


def month_start(value: date | datetime) -> date:
    return date(value.year, value.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"events_p{month.year:04d}{month.month:02d}"


def months_between(first: date | datetime, last: date | datetime) -> list[date]:
    months = []
    month = month_start(first)
    while month <= month_start(last):
        months.append(month)
        month = next_month(month)
    return months


def _create_sql(month: date) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(month)} PARTITION OF events "
        f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
    )


def initial_partition_sql(oldest: datetime | None, newest: datetime | None) -> list[str]:
    """Partitions for the months of the existing rows and a few ahead (the migration's)."""
    today = datetime.utcnow().date()
    # Mobile events may be dated up to 30 days back: last month's partition too.
    earliest = today - timedelta(days=31)
    first = month_start(min(oldest.date(), earliest) if oldest else earliest)
    last = month_start(max(newest.date(), today) if newest else today)
    for _ in range(MONTHS_AHEAD):
        last = next_month(last)
    return [_create_sql(month) for month in months_between(first, last)]


def existing_months(conn: Connection) -> set[date]:
    rows = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'"
    ).all()
    months = set()
    for (name,) in rows:
        if name.startswith("events_p") and name[8:].isdigit():
            months.add(date(int(name[8:12]), int(name[12:14]), 1))
    return months


def create_month(conn: Connection, month: date) -> None:
    """The month's partition, with the rows of that month the default partition holds moved
    into it (attaching checks the default keeps none of the range)."""
    name = partition_name(month)
    start, end = month.isoformat(), next_month(month).isoformat()
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS)")
    conn.exec_driver_sql(
        f"WITH moved AS (DELETE FROM events_default WHERE occurred_at >= '{start}' "
        f"AND occurred_at < '{end}' RETURNING *) INSERT INTO {name} SELECT * FROM moved"
    )
    conn.exec_driver_sql(
        f"ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')"
    )


def ensure_months(conn: Connection, months: Iterable[date]) -> list[date]:
    """Create the missing partitions among ``months``; answers those created."""
    have = existing_months(conn)
    created = []
    for month in sorted(set(months) - have):
        create_month(conn, month)
        created.append(month)
    return created


def drop_before(conn: Connection, cutoff: datetime) -> list[str]:
    """Drop every monthly partition that ends on or before ``cutoff``; answers their names."""
    dropped = []
    for month in sorted(existing_months(conn)):
        if next_month(month) <= cutoff.date():
            conn.exec_driver_sql(f"DROP TABLE {partition_name(month)}")
            dropped.append(partition_name(month))
    return dropped
