"""SQL for event definitions, events and the AppLaunch times of R7."""

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, func, insert, or_, select, update

from audience.db import DriverStatement, sqlite_time
from audience.installations.queries import FIND_KEY_FOR_UPDATE, InstallationKey, key_of
from audience.tables import EVENT_WRITE_COLUMNS, app_launches, event_definitions, events, persons

# --- definitions -------------------------------------------------------------------------------


def find_definition(conn: Connection, definition_id: str) -> Row | None:
    query = select(event_definitions).where(event_definitions.c.id == definition_id)
    return conn.execute(query).first()


# Statements of the ingestion hot path run on the driver (see ``DriverStatement``). A list
# parameter travels as one JSON array, so each statement has one fixed text whatever the
# list's length (and psycopg, which escapes array elements in Python, has one string to bind).
_IN_JSON_LIST = "IN (SELECT value FROM json_each(?))"
_IN_JSONB_LIST = "= ANY(ARRAY(SELECT jsonb_array_elements_text(CAST(? AS jsonb))))"
_find_definitions = DriverStatement(
    f"SELECT id, active, properties FROM event_definitions WHERE id {_IN_JSON_LIST}",
    f"SELECT id, active, properties FROM event_definitions WHERE id {_IN_JSONB_LIST}",
)


def _list_param(values: Collection[str]) -> str:
    return json.dumps(list(values))


def _json_value(value: Any) -> Any:
    """A JSON column as the driver returns it: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


DefinitionRow = tuple[str, bool, dict[str, str]]


def _definition_rows(rows: list[Any]) -> list[DefinitionRow]:
    return [(id_, bool(active), _json_value(types) or {}) for id_, active, types in rows]


def find_definitions(conn: Connection, definition_ids: Collection[str]) -> list[DefinitionRow]:
    """(id, active, property types) of the definitions of one batch, in one query (in a
    pipelined transaction, with what was queued before it)."""
    if not definition_ids:
        return []
    return _definition_rows(_find_definitions.send(conn, (_list_param(definition_ids),)).fetchall())


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


# The batch's definitions and its already-stored eventIds in one statement (one round trip
# less on PostgreSQL): rows ('d', id, active, properties) and ('e', eventId, NULL, NULL).
_definitions_and_event_ids = DriverStatement(
    f"SELECT 'd', id, active, properties FROM event_definitions WHERE id {_IN_JSON_LIST} "
    "UNION ALL SELECT 'e', event_id, NULL, NULL FROM events "
    f"WHERE push_registration_id = ? AND event_id {_IN_JSON_LIST}",
    f"SELECT 'd', id, active, properties FROM event_definitions WHERE id {_IN_JSONB_LIST} "
    "UNION ALL SELECT 'e', event_id, NULL, NULL FROM events "
    f"WHERE push_registration_id = ? AND event_id {_IN_JSONB_LIST}",
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
    client event ids the installation already stored.

    The eventId lookup runs after the lock is taken, so batches of one installation see each
    other's ids. (Sending the three to PostgreSQL in one psycopg pipeline saved a round trip
    but stalled now and then: p99 65 -> 160 ms for batches.)
    """
    # Both sent before either is read: in a pipelined transaction they travel together
    # (PostgreSQL runs them in order, the lookup after the lock).
    locked = FIND_KEY_FOR_UPDATE.send(conn, (push_registration_id,))
    if not event_ids:
        definitions = find_definitions(conn, definition_ids)
        return BatchReads(key_of(locked.fetchall()), definitions, set())
    params = (_list_param(definition_ids), push_registration_id, _list_param(event_ids))
    answer = _definitions_and_event_ids.send(conn, params)
    installation = key_of(locked.fetchall())
    found = answer.fetchall()
    definitions = _definition_rows([row[1:] for row in found if row[0] == "d"])
    stored = {row[1] for row in found if row[0] == "e"}
    return BatchReads(installation, definitions, stored)


_INSERT_COLUMNS = EVENT_WRITE_COLUMNS
_INSERT_INTO = f"INSERT INTO events ({', '.join(_INSERT_COLUMNS)}) "
# SQLite: one row a step, by executemany (in-process, each step is cheap). PostgreSQL: one
# statement with one JSON parameter whatever the batch's size, so a 100-event batch is one
# execution instead of a hundred. (An array per column cost more: psycopg escapes array
# elements in Python, a third of the call's CPU.)
_INSERT = DriverStatement(
    _INSERT_INTO + "VALUES (?, ?, ?, ?, ?, ?, ?)",
    _INSERT_INTO
    + f"SELECT {', '.join(_INSERT_COLUMNS)} FROM jsonb_to_recordset(CAST(? AS jsonb)) AS e("
    "person_id varchar, push_registration_id varchar, definition_id varchar, "
    "occurred_at timestamp, received_at timestamp, event_id varchar, properties jsonb)",
)


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """The whole batch at once, on the driver.

    The hottest statement of the server: parameters are prepared here, in the form
    SQLAlchemy's column types would bind them (JSON text; on SQLite, datetimes as text), which
    costs a third of going through ``insert(events)`` row by row.
    """
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        _INSERT.run_many(
            conn,
            [
                (
                    row["person_id"],
                    row["push_registration_id"],
                    row["definition_id"],
                    sqlite_time(row["occurred_at"]),
                    sqlite_time(row["received_at"]),
                    row["event_id"],
                    json.dumps(row["properties"]),
                )
                for row in rows
            ],
        )
        return
    times = ("occurred_at", "received_at")
    records = [row | {name: row[name].isoformat() for name in times} for row in rows]
    _INSERT.send(conn, (json.dumps(records),))


_LAST_ROWID = DriverStatement("SELECT last_insert_rowid()")
_INSERT_RETURNING = DriverStatement("", _INSERT.postgresql.replace("%s", "?") + " RETURNING id")


def insert_events_returning_ids(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """:func:`insert_events`, answering the new ids in the rows' order (for webhooks).

    SQLite: the writer lock is held, so the batch's rowids are consecutive up to the last one.
    PostgreSQL: RETURNING yields the rows in the order the recordset produced them, and the
    ids come from one sequence in that same order (sorted to rely on the latter only)."""
    if conn.dialect.name == "sqlite":
        insert_events(conn, rows)
        (last,) = _LAST_ROWID.run(conn).fetchone()
        return list(range(last - len(rows) + 1, last + 1))
    times = ("occurred_at", "received_at")
    records = [row | {name: row[name].isoformat() for name in times} for row in rows]
    ids = [pk for (pk,) in _INSERT_RETURNING.run(conn, (json.dumps(records),)).fetchall()]
    return sorted(ids)


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
