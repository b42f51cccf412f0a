"""SQL of exports: keyset pages (constant memory, no long transaction) and their extras.

A persons NDJSON page is three statements on the driver: the persons, with their times
formatted by the database (as ``clock.isoformat`` writes them), then the page's identities
and its tags by the same id range (one index range scan each); ``person_page`` gives them
to the service by person. The CSV pages are finished by the database (``csv_queries``).
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
# A page's identities and tags: by the page's id range for a whole export, by its ids for a
# segment's (whose members may be spread over every range); ``{where}`` is filled in.
_IDENTITIES_SQL = (
    "SELECT person_id, kind, value FROM person_identities WHERE {where} "
    "ORDER BY person_id, created_at, value"
)
_TAGS_SQL = "SELECT person_id, tag FROM person_tags WHERE {where} ORDER BY person_id, tag"


def time_sql(column: str, sqlite: bool) -> str:
    """``clock.isoformat`` of a time column, computed by the database. SQLite stores the text
    ``YYYY-MM-DD HH:MM:SS.ffffff``; both cut the milliseconds as ``isoformat`` does."""
    if not sqlite:
        return f'to_char({column}, \'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\')'
    return (
        f"CASE WHEN length({column}) = 26 THEN substr({column}, 1, 10) || 'T' || "
        f"substr({column}, 12, 12) || 'Z' ELSE strftime('%Y-%m-%dT%H:%M:%fZ', {column}) END"
    )


def _page_sql(sqlite: bool, in_segment: bool) -> str:
    """Persons after an id: (id, externalUserId, first, last, middle, gender, birthday, the
    custom attributes as JSON text, createdAt, updatedAt)."""
    columns = [
        "p.id, p.external_user_id, p.first_name, p.last_name, p.middle_name, p.gender, p.birthday",
        "p.custom_attributes" if sqlite else "p.custom_attributes::text",
        time_sql("p.created_at", sqlite),
        time_sql("p.updated_at", sqlite),
    ]
    join = IN_SEGMENT if in_segment else ""
    return f"SELECT {', '.join(columns)} FROM persons p{join} WHERE p.id > ? ORDER BY p.id LIMIT ?"


def _run(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    sqlite = conn.dialect.name == "sqlite"
    driver: Any = conn.connection.driver_connection
    cursor = driver.cursor()
    try:
        cursor.execute(sql if sqlite else sql.replace("?", "%s"), tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


Lists = dict[str, tuple[list[str], list[str], list[str]]]
NO_LISTS: tuple[list[str], list[str], list[str]] = ([], [], [])


def person_page(
    conn: Connection, after_id: str, segment_id: str | None, limit: int
) -> tuple[list[tuple[Any, ...]], Lists]:
    """A page of persons (rows as ``_page_sql`` gives them), and each one's (emails, phones,
    tags) in the order the API lists them."""
    sqlite = conn.dialect.name == "sqlite"
    sql = _page_sql(sqlite, segment_id is not None)
    keys = (after_id, limit) if segment_id is None else (segment_id, after_id, limit)
    page = _run(conn, sql, keys)
    if not page:
        return [], {}
    if segment_id is None:
        where, ids = "person_id > ? AND person_id <= ?", [after_id, page[-1][0]]
    elif sqlite:
        ids = [row[0] for row in page]
        where = f"person_id IN ({', '.join('?' for _ in ids)})"
    else:
        where, ids = "person_id = ANY(?)", [[row[0] for row in page]]
    lists: Lists = {}
    for person_id, kind, value in _run(conn, _IDENTITIES_SQL.format(where=where), ids):
        owned = lists.get(person_id) or lists.setdefault(person_id, ([], [], []))
        owned[kind == "phone"].append(value)
    for person_id, tag in _run(conn, _TAGS_SQL.format(where=where), ids):
        owned = lists.get(person_id) or lists.setdefault(person_id, ([], [], []))
        owned[2].append(tag)
    return page, lists


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
