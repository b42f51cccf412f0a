"""SQL of exports: keyset pages (constant memory, no long transaction) and their extras."""

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

_PAGE_SQL = (
    "SELECT p.id, p.external_user_id, p.first_name, p.last_name, p.middle_name, p.gender, "
    "p.birthday, p.custom_attributes, p.created_at, p.updated_at FROM persons p{join} "
    "WHERE p.id > ? ORDER BY p.id LIMIT ?"
)
_IN_SEGMENT = " JOIN segment_members m ON m.person_id = p.id AND m.segment_id = ?"
# A page's identities and tags: by the page's id range (one index range scan) for a whole
# export, by its ids for a segment's (whose members may be spread over every range).
_LISTS_SQL = {
    "identities": "SELECT person_id, kind, value FROM person_identities WHERE {where} "
    "ORDER BY person_id, created_at, value",
    "tags": "SELECT person_id, tag FROM person_tags WHERE {where} ORDER BY person_id, tag",
}


def _run(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    sqlite = conn.dialect.name == "sqlite"
    driver: Any = conn.connection.driver_connection
    cursor = driver.cursor()
    try:
        cursor.execute(sql if sqlite else sql.replace("?", "%s"), tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def person_lines(
    conn: Connection, after_id: str, segment_id: str | None, limit: int
) -> tuple[list[tuple[Any, ...]], dict[str, dict[str, list[str]]], dict[str, list[str]]]:
    """A page of persons, on the driver (the export's hot loop): rows of (id, externalUserId,
    first, last, middle, gender, birthday, custom attributes, created, updated) — on SQLite
    times and JSON as text — and the page's identities by person and kind, and tags."""
    if segment_id is None:
        page = _run(conn, _PAGE_SQL.format(join=""), (after_id, limit))
    else:
        page = _run(conn, _PAGE_SQL.format(join=_IN_SEGMENT), (segment_id, after_id, limit))
    if not page:
        return [], {}, {}
    if segment_id is None:
        where, params = "person_id > ? AND person_id <= ?", [after_id, page[-1][0]]
    else:
        params = [row[0] for row in page]
        where = f"person_id IN ({', '.join('?' for _ in params)})"
    identities: dict[str, dict[str, list[str]]] = {}
    for person_id, kind, value in _run(conn, _LISTS_SQL["identities"].format(where=where), params):
        identities.setdefault(person_id, {"phone": [], "email": []})[kind].append(value)
    tags: dict[str, list[str]] = {}
    for person_id, tag in _run(conn, _LISTS_SQL["tags"].format(where=where), params):
        tags.setdefault(person_id, []).append(tag)
    return page, identities, tags


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
