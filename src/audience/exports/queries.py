"""SQL of exports: keyset pages (constant memory, no long transaction) and their extras.

The persons pages are finished by the database: CSV by ``csv_queries``, NDJSON by
``ndjson_queries``; both format times with ``time_sql`` (as ``clock.isoformat`` writes them).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from audience.tables import (
    attribute_definitions,
    event_definitions,
    events,
    persons,
)

IN_SEGMENT = " JOIN segment_members m ON m.person_id = p.id AND m.segment_id = ?"


def time_sql(column: str, sqlite: bool) -> str:
    """``clock.isoformat`` of a time column, computed by the database. SQLite stores the text
    ``YYYY-MM-DD HH:MM:SS.ffffff``; both cut the milliseconds as ``isoformat`` does."""
    if not sqlite:
        return f'to_char({column}, \'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\')'
    return (
        f"CASE WHEN length({column}) = 26 THEN substr({column}, 1, 10) || 'T' || "
        f"substr({column}, 12, 12) || 'Z' ELSE strftime('%Y-%m-%dT%H:%M:%fZ', {column}) END"
    )


def page_bound(conn: Connection, after_id: str, segment_id: str | None, limit: int) -> str | None:
    """The id of the ``limit``-th person after ``after_id`` (of the segment), read from the
    primary key's index — None when fewer follow (the page is the last)."""
    driver: Any = conn.connection.driver_connection
    join = IN_SEGMENT if segment_id is not None else ""
    sql = f"SELECT p.id FROM persons p{join} WHERE p.id > ? ORDER BY p.id LIMIT 1 OFFSET ?"
    if conn.dialect.name != "sqlite":
        sql = sql.replace("?", "%s")
    segment = [] if segment_id is None else [segment_id]
    bound = driver.execute(sql, (*segment, after_id, limit - 1)).fetchone()
    return None if bound is None else str(bound[0])


# A page's lists on PostgreSQL, each list's members as ``{element}`` joined by ``{sep}``. A
# whole export's: each list table's rows of the page's id range aggregated in one pass and
# merged by id (a third cheaper than a lookup per person). A segment's: looked up per member
# (its members may be sparse in any id range).
_PG_IDENTITIES = (
    "SELECT person_id, "
    "string_agg({value}, '{sep}' ORDER BY created_at, value) FILTER (WHERE kind = 'email') "
    "emails, "
    "string_agg({value}, '{sep}' ORDER BY created_at, value) FILTER (WHERE kind = 'phone') "
    "phones FROM person_identities WHERE {where} GROUP BY person_id"
)
_PG_TAGS = (
    "SELECT person_id, string_agg({tag}, '{sep}' ORDER BY tag) tags FROM person_tags "
    "WHERE {where} GROUP BY person_id"
)


def pg_page_joins(in_segment: bool, last: bool, element: str, sep: str) -> tuple[str, str]:
    """PostgreSQL: the joins that give a page's persons ``p`` their lists — ``i.emails``,
    ``i.phones``, ``t.tags`` (NULL when empty), each member as ``element`` (SQL of ``{x}``,
    the member) joined by ``sep`` — and the page's condition on ``p.id``. Named parameters:
    ``after``, ``upto`` (unless ``last``), ``segment`` (when ``in_segment``)."""
    within = "{id} > %(after)s" + ("" if last else " AND {id} <= %(upto)s")
    value, tag = element.format(x="value"), element.format(x="tag")
    if in_segment:
        where = "person_id = p.id"
        identities = _PG_IDENTITIES.format(value=value, sep=sep, where=where)
        joins = (
            "JOIN segment_members m ON m.person_id = p.id AND m.segment_id = %(segment)s "
            f"LEFT JOIN LATERAL ({identities}) i ON true "
            f"LEFT JOIN LATERAL ({_PG_TAGS.format(tag=tag, sep=sep, where=where)}) t ON true"
        )
    else:
        where = within.format(id="person_id")
        identities = _PG_IDENTITIES.format(value=value, sep=sep, where=where)
        tags = _PG_TAGS.format(tag=tag, sep=sep, where=where)
        joins = (
            f"LEFT JOIN ({identities}) i ON i.person_id = p.id "
            f"LEFT JOIN ({tags}) t ON t.person_id = p.id"
        )
    return joins, within.format(id="p.id")


def person_attribute_names(conn: Connection) -> list[str]:
    query = (
        select(attribute_definitions.c.name)
        .where(attribute_definitions.c.scope == "person")
        .order_by(attribute_definitions.c.name)
    )
    return list(conn.execute(query).scalars())


def event_page(
    conn: Connection,
    after_id: int | None,
    since: datetime | None,
    until: datetime | None,
    definition_id: str | None,
    limit: int,
) -> list[Row]:
    query = select(events).order_by(events.c.id).limit(limit)
    if after_id is not None:
        query = query.where(events.c.id > after_id)
    if since is not None:
        query = query.where(events.c.occurred_at >= since)
    if until is not None:
        query = query.where(events.c.occurred_at <= until)
    if definition_id is not None:
        query = query.where(events.c.definition_id == definition_id)
    return list(conn.execute(query))


def external_ids_of(conn: Connection, person_ids: Sequence[str]) -> dict[str, str]:
    query = select(persons.c.id, persons.c.external_user_id).where(
        persons.c.id.in_(person_ids), persons.c.external_user_id.is_not(None)
    )
    return {person_id: external for person_id, external in conn.execute(query)}


def property_names(conn: Connection) -> list[str]:
    """Every property a custom definition declares (the CSV's ``properties.*`` columns)."""
    names: set[str] = set()
    for (types,) in conn.execute(select(event_definitions.c.properties)):
        names.update(types or {})
    return sorted(names)
