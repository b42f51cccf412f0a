"""SQL for event definitions, events and the AppLaunch times of R7."""

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, func, insert, or_, select, update

from audience.db import DriverStatement, run_pipelined
from audience.installations.queries import FIND_KEY_FOR_UPDATE, InstallationKey, key_of
from audience.tables import app_launches, event_definitions, events, persons

# --- definitions -------------------------------------------------------------------------------


def find_definition(conn: Connection, definition_id: str) -> Row | None:
    query = select(event_definitions).where(event_definitions.c.id == definition_id)
    return conn.execute(query).first()


# Statements of the ingestion hot path run on the driver (see ``DriverStatement``). A list
# parameter travels as one JSON array on SQLite and as one array on PostgreSQL, so each
# statement has one fixed text whatever the list's length.
_find_definitions = DriverStatement(
    "SELECT id, active, properties FROM event_definitions "
    "WHERE id IN (SELECT value FROM json_each(?))",
    "SELECT id, active, properties FROM event_definitions WHERE id = ANY(?)",
)


def _list_param(conn: Connection, values: Collection[str]) -> Any:
    return json.dumps(list(values)) if conn.dialect.name == "sqlite" else list(values)


def _json_value(value: Any) -> Any:
    """A JSON column as the driver returns it: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


DefinitionRow = tuple[str, bool, dict[str, str]]


def _definition_rows(rows: list[Any]) -> list[DefinitionRow]:
    return [(id_, bool(active), _json_value(types) or {}) for id_, active, types in rows]


def find_definitions(conn: Connection, definition_ids: Collection[str]) -> list[DefinitionRow]:
    """(id, active, property types) of the definitions of one batch, in one query."""
    if not definition_ids:
        return []
    return _definition_rows(_find_definitions.run(conn, (_list_param(conn, definition_ids),)))


def insert_definition(conn: Connection, **values: object) -> None:
    conn.execute(insert(event_definitions).values(**values))


def update_definition(conn: Connection, definition_id: str, **values: object) -> None:
    conn.execute(
        update(event_definitions).where(event_definitions.c.id == definition_id).values(**values)
    )


def list_definitions(
    conn: Connection, active: bool | None, after_id: str | None, limit: int
) -> list[Row]:
    query = select(event_definitions).order_by(event_definitions.c.id).limit(limit + 1)
    if active is not None:
        query = query.where(event_definitions.c.active.is_(active))
    if after_id is not None:
        query = query.where(event_definitions.c.id > after_id)
    return list(conn.execute(query))


# --- events ------------------------------------------------------------------------------------


_existing_event_ids = DriverStatement(
    "SELECT event_id FROM events WHERE push_registration_id = ? "
    "AND event_id IN (SELECT value FROM json_each(?))",
    "SELECT event_id FROM events WHERE push_registration_id = ? AND event_id = ANY(?)",
)


@dataclass(frozen=True)
class BatchReads:
    """Everything a mobile batch reads before it is checked and stored."""

    installation: InstallationKey | None
    definitions: list[DefinitionRow]
    stored_event_ids: set[str]


def read_for_batch(
    conn: Connection,
    push_registration_id: str,
    definition_ids: Collection[str],
    event_ids: Collection[str],
) -> BatchReads:
    """The installation (locked on PostgreSQL), the batch's definitions and which of its
    client event ids the installation already stored: one round trip to PostgreSQL.

    The eventId lookup runs after the lock is taken, so batches of one installation see each
    other's ids.
    """
    calls: list[tuple[DriverStatement, tuple[Any, ...]]] = [
        (FIND_KEY_FOR_UPDATE, (push_registration_id,))
    ]
    if definition_ids:
        calls.append((_find_definitions, (_list_param(conn, definition_ids),)))
    if event_ids:
        calls.append((_existing_event_ids, (push_registration_id, _list_param(conn, event_ids))))
    results = iter(run_pipelined(conn, *calls))
    installation = key_of(next(results))
    definitions = _definition_rows(next(results)) if definition_ids else []
    stored = {event_id for (event_id,) in next(results)} if event_ids else set()
    return BatchReads(installation, definitions, stored)


_INSERT_COLUMNS = (
    "person_id",
    "push_registration_id",
    "definition_id",
    "occurred_at",
    "received_at",
    "event_id",
    "properties",
)
_INSERT_INTO = f"INSERT INTO events ({', '.join(_INSERT_COLUMNS)}) "
# SQLite: executemany of one row each (in-process, each step is cheap).
_INSERT_ROWS = DriverStatement(_INSERT_INTO + "VALUES (?, ?, ?, ?, ?, ?, ?)")
# PostgreSQL: one statement whatever the batch's size, one array per column; a 100-event
# batch is then one plan and one execution instead of a hundred.
_INSERT_ARRAYS = DriverStatement(
    "",
    _INSERT_INTO
    + "SELECT * FROM unnest(CAST(? AS varchar[]), CAST(? AS varchar[]), CAST(? AS varchar[]), "
    "CAST(? AS timestamp[]), CAST(? AS timestamp[]), CAST(? AS varchar[]), CAST(? AS jsonb[]))",
)


def _sqlite_time(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite ``DateTime`` stores, so reads and comparisons match."""
    return value.isoformat(sep=" ", timespec="microseconds")


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """The whole batch at once, on the driver.

    The hottest statement of the server: parameters are prepared here, in the form
    SQLAlchemy's column types would bind them (JSON text; on SQLite, datetimes as text), which
    costs a third of going through ``insert(events)`` row by row.
    """
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        _INSERT_ROWS.run_many(
            conn,
            [
                (
                    row["person_id"],
                    row["push_registration_id"],
                    row["definition_id"],
                    _sqlite_time(row["occurred_at"]),
                    _sqlite_time(row["received_at"]),
                    row["event_id"],
                    json.dumps(row["properties"]),
                )
                for row in rows
            ],
        )
        return
    columns = [[row[name] for row in rows] for name in _INSERT_COLUMNS]
    columns[-1] = [json.dumps(properties) for properties in columns[-1]]
    _INSERT_ARRAYS.run(conn, columns)


def insert_event(conn: Connection, **values: object) -> int:
    event_id = conn.execute(insert(events).values(**values).returning(events.c.id)).scalar_one()
    return int(event_id)


def find_event(conn: Connection, event_id: int) -> Row | None:
    return conn.execute(select(events).where(events.c.id == event_id)).first()


def find_server_event(
    conn: Connection, person_ids: Sequence[str], client_event_id: str
) -> Row | None:
    """A server-side event (no installation) of this person with this client ``eventId``."""
    query = select(events).where(
        events.c.person_id.in_(person_ids),
        events.c.push_registration_id.is_(None),
        events.c.event_id == client_event_id,
    )
    return conn.execute(query).first()


def lock_person(conn: Connection, person_id: str) -> None:
    """Serialise server-side ingestion per person (PostgreSQL; SQLite serialises writers)."""
    conn.execute(select(persons.c.id).where(persons.c.id == person_id).with_for_update())


def history(
    conn: Connection,
    person_ids: Sequence[str],
    *,
    definition_id: str | None,
    since: datetime | None,
    until: datetime | None,
    push_registration_id: str | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Row]:
    """Newest first, ``limit + 1`` rows; ``after`` is the (occurredAt, id) of the last one seen."""
    query = (
        select(events)
        .where(events.c.person_id.in_(person_ids))
        .order_by(events.c.occurred_at.desc(), events.c.id.desc())
        .limit(limit + 1)
    )
    if definition_id is not None:
        query = query.where(events.c.definition_id == definition_id)
    if since is not None:
        query = query.where(events.c.occurred_at >= since)
    if until is not None:
        query = query.where(events.c.occurred_at <= until)
    if push_registration_id is not None:
        query = query.where(events.c.push_registration_id == push_registration_id)
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(
                events.c.occurred_at < at,
                and_(events.c.occurred_at == at, events.c.id < last_id),
            )
        )
    return list(conn.execute(query))


# --- AppLaunch (R7) ----------------------------------------------------------------------------


_previous_launch = select(func.max(app_launches.c.occurred_at)).where(
    app_launches.c.push_registration_id == bindparam("installation"),
    app_launches.c.occurred_at <= bindparam("at", type_=app_launches.c.occurred_at.type),
)


def previous_launch(conn: Connection, push_registration_id: str, at: datetime) -> datetime | None:
    """The latest recorded AppLaunch of the installation whose time is not after ``at``."""
    params = {"installation": push_registration_id, "at": at}
    found: datetime | None = conn.execute(_previous_launch, params).scalar()
    return found


def insert_launch(conn: Connection, push_registration_id: str, at: datetime) -> None:
    conn.execute(
        insert(app_launches).values(push_registration_id=push_registration_id, occurred_at=at)
    )
