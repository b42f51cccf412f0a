"""Event rows: historical events checked like the API's (R8) but without the 30-day limit
(``imports.event_checks``), stored on the person of ``pushRegistrationId`` or
``externalUserId``, once per eventId.

A checked batch's persons and stored eventIds are read in a few set queries, and its new
events are written at once (``imports.queries.insert_events``: one executemany on SQLite, a
COPY on PostgreSQL).
"""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from audience.db import sqlite_page_cache
from audience.errors import ApiError
from audience.imports import queries
from audience.imports.event_checks import Event
from audience.tables import events, installations


def resolve_persons(
    conn: Connection, rows: Sequence[Event]
) -> tuple[list[tuple[str, Event]], dict[int, ApiError]]:
    """Each row's person: the installation's (locked, like ingestion does) or the one with
    that externalUserId; answers the rows found with their person, and the others' errors."""
    installation_ids = sorted({r[1] for r in rows if r[1]})
    external_ids = sorted({r[2] for r in rows if r[2] and not r[1]})
    by_installation: dict[str, str | None] = {}
    if installation_ids:
        query = (
            select(installations.c.push_registration_id, installations.c.person_id)
            .where(installations.c.push_registration_id.in_(installation_ids))
            .order_by(installations.c.push_registration_id)
        )
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()
        by_installation = {key: person for key, person in conn.execute(query)}
    by_external = queries.persons_by_external_id(conn, external_ids) if external_ids else {}
    found: list[tuple[str, Event]] = []
    errors: dict[int, ApiError] = {}
    for row in rows:
        number, installation, external = row[0], row[1], row[2]
        if installation:
            person_id = by_installation.get(installation)
            if person_id is None:
                errors[number] = ApiError(
                    404,
                    "NO_REGISTRATION",
                    f"No installation '{installation}'",
                    "pushRegistrationId",
                )
                continue
        else:
            person_id = by_external.get(external or "")
            if person_id is None:
                errors[number] = ApiError(
                    404,
                    "PERSON_NOT_FOUND",
                    f"No person with externalUserId '{external}'",
                    "externalUserId",
                )
                continue
        found.append((person_id, row))
    return found, errors


DedupeKey = tuple[Any, ...]
Found = tuple[str, Event]  # a checked row and its person


def _dedupe_key(person_id: str, row: Event) -> DedupeKey:
    """eventIds are unique per installation; server-side events (no installation) per person.
    An event without eventId is the same event when everything about it is the same (so
    re-importing a file changes nothing, docs/decisions.md)."""
    owner = row[1] or f"person:{person_id}"
    if row[6] is not None:
        return owner, row[6]
    return owner, None, row[3], row[4], row[8]


def _stored_without_ids(conn: Connection, rows: Sequence[Found]) -> set[DedupeKey]:
    wanted = [(person_id, row) for person_id, row in rows if row[6] is None]
    if not wanted:
        return set()
    query = select(
        events.c.person_id,
        events.c.push_registration_id,
        events.c.definition_id,
        events.c.occurred_at,
        events.c.properties,
    ).where(
        events.c.event_id.is_(None),
        events.c.person_id.in_(sorted({person_id for person_id, _row in wanted})),
        events.c.occurred_at.in_(sorted({row[4] for _person, row in wanted})),
    )
    found: set[DedupeKey] = set()
    for person_id, installation, definition_id, occurred_at, properties in conn.execute(query):
        owner = installation or f"person:{person_id}"
        content = json.dumps(properties or {}, sort_keys=True)
        found.add((owner, None, definition_id, occurred_at, content))
    return found


def _run(conn: Connection, sqlite: str, postgresql: str, params: Sequence[Any]) -> list[Any]:
    """On the driver. Never a prepared statement on PostgreSQL (psycopg prepares a statement
    run five times): a generic plan cannot hash the list of eventIds, and a filter that
    searches a 5,000-element list for each stored event took seconds a batch."""
    driver: Any = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        return list(driver.execute(sqlite, params).fetchall())
    return list(driver.execute(postgresql, params, prepare=False).fetchall())


def _stored_server_events(conn: Connection, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (person, eventId) pairs of server-side events are stored: by eventId through the
    unique key's index (installation NULL), the pairs picked in Python. On the driver: a tuple
    IN list of thousands costs more to build in SQLAlchemy than to run."""
    event_ids = sorted({event_id for _owner, event_id in keys})
    found: set[tuple[str, str]] = set()
    for start in range(0, len(event_ids), 5000):
        part = event_ids[start : start + 5000]
        where = "SELECT person_id, event_id FROM events WHERE push_registration_id IS NULL AND "
        marks = ", ".join("?" for _ in part)
        params = part if conn.dialect.name == "sqlite" else [part]
        rows = _run(conn, where + f"event_id IN ({marks})", where + "event_id = ANY(%s)", params)
        found.update(pair for pair in map(tuple, rows) if pair in keys)
    return found


def _stored_installation_events(
    conn: Connection, keys: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which (installation, eventId) pairs are stored: the pairs joined to the unique key."""
    pairs = sorted(keys)
    found: set[tuple[str, str]] = set()
    select_ = "SELECT e.push_registration_id, e.event_id FROM "
    join = " JOIN events e ON e.push_registration_id = v.a AND e.event_id = v.b"
    for start in range(0, len(pairs), 2000):
        part = pairs[start : start + 2000]
        values = ", ".join("(?, ?)" for _ in part)
        sqlite = f"WITH v(a, b) AS (VALUES {values}) {select_}v{join}"
        postgresql = f"{select_}unnest(%s::text[], %s::text[]) AS v(a, b){join}"
        flat = [value for pair in part for value in pair]
        params = (
            flat if conn.dialect.name == "sqlite" else [[a for a, _ in part], [b for _, b in part]]
        )
        found.update(map(tuple, _run(conn, sqlite, postgresql, params)))
    return found


def stored_keys(conn: Connection, rows: Sequence[Found]) -> set[DedupeKey]:
    by_installation = {(row[1], row[6]) for _person, row in rows if row[6] and row[1]}
    by_person = {(person_id, row[6]) for person_id, row in rows if row[6] and not row[1]}
    found = _stored_without_ids(conn, rows)
    if by_installation:
        found.update(_stored_installation_events(conn, by_installation))
    if by_person:
        pairs = _stored_server_events(conn, by_person)
        found.update((f"person:{a}", b) for a, b in pairs)
    return found


# SQLite's page cache while a batch looks up and writes its events: the inserts land all over
# the events indexes (by person, by installation and eventId), and with the default 2 MB the
# same index pages were written out and read back within one batch.
BATCH_CACHE_KIB = 64 * 1024


def store(conn: Connection, rows: Sequence[Found], received_at: datetime) -> list[Found]:
    """Insert the rows not stored yet (nor earlier in the batch); answers those inserted."""
    with sqlite_page_cache(conn, BATCH_CACHE_KIB):
        seen = stored_keys(conn, rows)
        fresh: list[Found] = []
        for person_id, row in rows:
            key = _dedupe_key(person_id, row)
            if key in seen:
                continue
            seen.add(key)
            fresh.append((person_id, row))
        queries.insert_events(
            conn,
            [(person_id, row[1], row[3], row[5], row[6], row[7]) for person_id, row in fresh],
            received_at,
        )
    return fresh
