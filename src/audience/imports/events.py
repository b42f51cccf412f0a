"""Event rows: historical events checked like the API's (R8) but without the 30-day limit,
stored on the person of ``pushRegistrationId`` or ``externalUserId``, once per eventId.

A batch is checked row by row with the API's own ``check_event``, its persons and stored
eventIds are read in a few set queries, and its new events are written at once
(``imports.queries.insert_events``: one executemany on SQLite, a COPY on PostgreSQL).
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from audience.db import sqlite_page_cache
from audience.errors import ApiError
from audience.events.definitions import load_for_ingestion
from audience.events.validation import CheckedEvent, Definition, InvalidEvent, check_event
from audience.imports import queries
from audience.imports.cells import nest
from audience.tables import events, installations

# Written by exports, read-only here.
IGNORED_COLUMNS = frozenset({"id", "personId", "receivedAt"})
_EVENT_FIELDS = {"definitionId": "definitionId", "eventId": "eventId", "occurredAt": "date"}
_KEYS = frozenset({"pushRegistrationId", "externalUserId"})
_NOT_PLAIN = IGNORED_COLUMNS | {"properties"}


@dataclass(slots=True)
class EventRow:
    number: int
    body: dict[str, Any]
    raw: Mapping[str, Any]
    dotted: bool = False  # has ``properties.<name>`` columns
    push_registration_id: str | None = None
    external_user_id: str | None = None
    checked: CheckedEvent | None = None
    person_id: str | None = None


def _invalid_property(name: str, value: Any) -> ApiError:
    return ApiError(
        400,
        "INVALID_EVENT",
        f"properties.{name}: {value!r} is not of its type",
        f"properties.{name}",
    )


def event_row(number: int, row: Mapping[str, Any], is_csv: bool) -> EventRow:
    """The row split into its person key and the event body check_event takes (properties
    are gathered later, once the definitions are known: CSV cells are typed by them). An
    empty CSV cell or an NDJSON null is not given; the first unknown column fails the row."""
    result = EventRow(number, {}, row)
    body = result.body
    for column, value in row.items():
        if value is None or column in _NOT_PLAIN:
            continue
        if column.startswith("properties."):
            result.dotted = True
            continue
        if is_csv and value == "":
            continue
        field = _EVENT_FIELDS.get(column)
        if field is not None:
            body[field] = value
        elif column in _KEYS:
            if not isinstance(value, str):
                raise ApiError(400, "VALIDATION_ERROR", f"{column} must be a string", column)
            if column == "pushRegistrationId":
                result.push_registration_id = value
            else:
                result.external_user_id = value
        else:
            raise ApiError(400, "VALIDATION_ERROR", f"Unknown field '{column}'", column)
    if result.push_registration_id is None and result.external_user_id is None:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            "A row needs pushRegistrationId or externalUserId",
            "pushRegistrationId",
        )
    return result


def _api_error(exc: InvalidEvent) -> ApiError:
    field = {"date": "occurredAt"}.get(exc.field, exc.field) or None
    return ApiError(400, exc.code, f"{field}: {exc.reason}" if field else exc.reason, field)


def _properties(
    row: EventRow, definitions: Mapping[str, Definition], is_csv: bool
) -> dict[str, Any] | None:
    """The row's properties as one object (``cells.nest``); a row with only a nested object
    (an NDJSON export's) is taken as it is, without a look at each column."""
    if row.dotted:
        types = _types(definitions, row.body.get("definitionId"))
        return nest(row.raw, "properties.", "properties", types, is_csv, _invalid_property)
    nested = row.raw.get("properties")
    if nested is not None and not isinstance(nested, dict):
        raise ApiError(400, "VALIDATION_ERROR", "properties must be an object", "properties")
    return nested or None


def check_rows(
    conn: Connection, rows: Sequence[EventRow], is_csv: bool, now: datetime
) -> dict[int, ApiError]:
    """Check every row with the API's ``check_event``; answers the errors by row number (the
    others get ``checked``)."""
    wanted = {r.body.get("definitionId") for r in rows}
    definitions = load_for_ingestion(conn, {d for d in wanted if isinstance(d, str)})
    errors: dict[int, ApiError] = {}
    for row in rows:
        try:
            properties = _properties(row, definitions, is_csv)
            if properties is not None:
                row.body["properties"] = properties
            row.checked = check_event(
                row.body, definitions, now, allow_app_launch=False, max_past=None
            )
        except InvalidEvent as exc:
            errors[row.number] = _api_error(exc)
        except ApiError as exc:
            errors[row.number] = exc
    return errors


def _types(definitions: Mapping[str, Definition], definition_id: Any) -> Mapping[str, str]:
    definition = definitions.get(definition_id) if isinstance(definition_id, str) else None
    return definition.properties if definition else {}


def resolve_persons(conn: Connection, rows: Sequence[EventRow]) -> dict[int, ApiError]:
    """Each row's person: the installation's (locked, like ingestion does) or the one with
    that externalUserId."""
    installation_ids = sorted({r.push_registration_id for r in rows if r.push_registration_id})
    external_ids = sorted(
        {r.external_user_id for r in rows if r.external_user_id and not r.push_registration_id}
    )
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
    errors: dict[int, ApiError] = {}
    for row in rows:
        if row.push_registration_id:
            row.person_id = by_installation.get(row.push_registration_id)
            if row.person_id is None:
                errors[row.number] = ApiError(
                    404,
                    "NO_REGISTRATION",
                    f"No installation '{row.push_registration_id}'",
                    "pushRegistrationId",
                )
        else:
            assert row.external_user_id is not None
            row.person_id = by_external.get(row.external_user_id)
            if row.person_id is None:
                errors[row.number] = ApiError(
                    404,
                    "PERSON_NOT_FOUND",
                    f"No person with externalUserId '{row.external_user_id}'",
                    "externalUserId",
                )
    return errors


DedupeKey = tuple[Any, ...]


def _dedupe_key(row: EventRow) -> DedupeKey:
    """eventIds are unique per installation; server-side events (no installation) per person.
    An event without eventId is the same event when everything about it is the same (so
    re-importing a file changes nothing, docs/decisions.md)."""
    checked = row.checked
    assert checked is not None
    owner = row.push_registration_id or f"person:{row.person_id}"
    if checked.event_id is not None:
        return owner, checked.event_id
    content = json.dumps(checked.properties, sort_keys=True)
    return owner, None, checked.definition_id, checked.occurred_at, content


def _stored_without_ids(conn: Connection, rows: Sequence[EventRow]) -> set[DedupeKey]:
    wanted = [r for r in rows if r.checked and r.checked.event_id is None]
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
        events.c.person_id.in_(sorted({r.person_id for r in wanted if r.person_id})),
        events.c.occurred_at.in_(sorted({r.checked.occurred_at for r in wanted if r.checked})),
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


def stored_keys(conn: Connection, rows: Sequence[EventRow]) -> set[DedupeKey]:
    by_installation = {
        (r.push_registration_id, r.checked.event_id)
        for r in rows
        if r.checked and r.checked.event_id and r.push_registration_id
    }
    by_person = {
        (r.person_id, r.checked.event_id)
        for r in rows
        if r.checked and r.checked.event_id and not r.push_registration_id and r.person_id
    }
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


def store(conn: Connection, rows: Sequence[EventRow], received_at: datetime) -> list[EventRow]:
    """Insert the rows not stored yet (nor earlier in the batch); answers those inserted."""
    with sqlite_page_cache(conn, BATCH_CACHE_KIB):
        return _store(conn, rows, received_at)


def _store(conn: Connection, rows: Sequence[EventRow], received_at: datetime) -> list[EventRow]:
    seen = stored_keys(conn, rows)
    fresh: list[EventRow] = []
    for row in rows:
        key = _dedupe_key(row)
        if key in seen:
            continue
        seen.add(key)
        fresh.append(row)
    queries.insert_events(
        conn,
        [
            (
                row.person_id,
                row.push_registration_id,
                row.checked.definition_id,
                row.checked.occurred_at,
                received_at,
                row.checked.event_id,
                row.checked.properties,
            )
            for row in fresh
            if row.checked is not None
        ],
    )
    return fresh
