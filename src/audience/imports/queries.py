"""SQL of imports: the job row, the uploaded chunks, the per-row errors, and the set reads
and bulk writes of person batches."""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from audience.db import driver_errors
from audience.tables import (
    EVENT_WRITE_COLUMNS,
    import_chunks,
    import_errors,
    imports,
    person_identities,
    person_tags,
    persons,
)


def insert_import(conn: Connection, **values: Any) -> None:
    conn.execute(insert(imports).values(**values))


def find(conn: Connection, import_id: str, for_update: bool = False) -> Row | None:
    query = select(imports).where(imports.c.id == import_id)
    if for_update:
        query = query.with_for_update()
    return conn.execute(query).first()


def update_import(conn: Connection, import_id: str, **values: Any) -> None:
    conn.execute(update(imports).where(imports.c.id == import_id).values(**values))


def add_progress(
    conn: Connection,
    import_id: str,
    rows: int,
    created: int,
    updated: int,
    failed: int,
    at: datetime,
) -> None:
    conn.execute(
        update(imports)
        .where(imports.c.id == import_id)
        .values(
            rows=imports.c.rows + rows,
            position=imports.c.position + rows,
            created=imports.c.created + created,
            updated=imports.c.updated + updated,
            failed=imports.c.failed + failed,
            updated_at=at,
        )
    )


def insert_chunk(conn: Connection, import_id: str, seq: int, data: bytes) -> None:
    conn.execute(insert(import_chunks).values(import_id=import_id, seq=seq, data=data))


def chunk(conn: Connection, import_id: str, seq: int) -> bytes | None:
    query = select(import_chunks.c.data).where(
        import_chunks.c.import_id == import_id, import_chunks.c.seq == seq
    )
    data = conn.execute(query).scalar()
    return bytes(data) if data is not None else None


def delete_chunks(conn: Connection, import_id: str) -> None:
    conn.execute(delete(import_chunks).where(import_chunks.c.import_id == import_id))


# The tables each kind of import fills.
IMPORTED_TABLES = {
    "persons": ("persons", "person_identities", "person_tags", "person_changes"),
    "events": ("events",),
}


def analyze(conn: Connection, kind: str) -> None:
    """Fresh planner statistics for the tables an import filled (PostgreSQL)."""
    conn.exec_driver_sql(f"ANALYZE {', '.join(IMPORTED_TABLES[kind])}")


def insert_errors(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(import_errors), list(rows))


def list_errors(conn: Connection, import_id: str, after_row: int | None, limit: int) -> list[Row]:
    query = (
        select(import_errors)
        .where(import_errors.c.import_id == import_id)
        .order_by(import_errors.c.row)
        .limit(limit + 1)
    )
    if after_row is not None:
        query = query.where(import_errors.c.row > after_row)
    return list(conn.execute(query))


# --- person batches: set reads, and writes straight on the driver ----------------------------
# A batch writes tens of thousands of rows; SQLAlchemy's per-row parameter handling would
# cost more than the database's own work, so rows are given to the driver ready-made (JSON
# as text, SQLite datetimes in the text form SQLAlchemy's DateTime stores) and PostgreSQL
# takes them by COPY. The driver's errors are raised as SQLAlchemy's (``db.driver_errors``):
# a unique key refusing a batch's insert is the ``IntegrityError`` its caller handles.

PERSON_COLUMNS = (
    "id",
    "type",
    "external_user_id",
    "first_name",
    "last_name",
    "middle_name",
    "gender",
    "birthday",
    "custom_attributes",
    "created_at",
    "updated_at",
)


def _values_in(
    conn: Connection, sql: str, params: Sequence[Any], values: Sequence[str]
) -> list[Any]:
    """``sql`` with ``{in}`` standing for "IN these values", on the driver: a list parameter
    on PostgreSQL (``= ANY``), ``?`` marks on SQLite. Thousands of expanded parameters cost
    more to render and parse than the lookup itself."""
    driver: Any = conn.connection.driver_connection
    found: list[Any] = []
    for part in _parts(values):
        if conn.dialect.name == "sqlite":
            marks = ", ".join("?" for _ in part)
            found += driver.execute(sql.format(In=f"IN ({marks})"), (*params, *part)).fetchall()
        else:
            query = sql.replace("?", "%s").format(In="= ANY(%s)")
            found += driver.execute(query, (*params, list(part))).fetchall()
    return found


def persons_by_external_id(conn: Connection, values: Sequence[str]) -> dict[str, str]:
    sql = "SELECT external_user_id, id FROM persons WHERE external_user_id {In}"
    return {ext: pid for ext, pid in _values_in(conn, sql, (), values)}


def identity_owners(conn: Connection, kind: str, values: Sequence[str]) -> dict[str, str]:
    sql = "SELECT value, person_id FROM person_identities WHERE kind = ? AND value {In}"
    return {value: pid for value, pid in _values_in(conn, sql, (kind,), values)}


def lock_and_read_persons(conn: Connection, person_ids: Sequence[str]) -> list[Row]:
    """The persons (locked in id order on PostgreSQL, as the row-at-a-time path locked each)."""
    found: list[Row] = []
    for part in _parts(sorted(person_ids)):
        query = select(persons).where(persons.c.id.in_(part)).order_by(persons.c.id)
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()
        found += list(conn.execute(query))
    return found


def identities_of_many(conn: Connection, person_ids: Sequence[str]) -> list[Row]:
    """(person_id, kind, value) in each person's order (``persons.queries.identities_of``)."""
    found: list[Row] = []
    for part in _parts(person_ids):
        query = (
            select(
                person_identities.c.person_id, person_identities.c.kind, person_identities.c.value
            )
            .where(person_identities.c.person_id.in_(part))
            .order_by(person_identities.c.created_at, person_identities.c.value)
        )
        found += list(conn.execute(query))
    return found


def tags_of_many(conn: Connection, person_ids: Sequence[str]) -> list[Row]:
    found: list[Row] = []
    for part in _parts(person_ids):
        query = select(person_tags.c.person_id, person_tags.c.tag).where(
            person_tags.c.person_id.in_(part)
        )
        found += list(conn.execute(query))
    return found


def _parts(values: Sequence[str], size: int = 5000) -> list[Sequence[str]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def sqlite_time(value: datetime) -> str:
    """The text SQLAlchemy's SQLite ``DateTime`` stores, so reads and comparisons match."""
    return value.isoformat(sep=" ", timespec="microseconds")


def _sqlite_times() -> Any:
    """``sqlite_time`` remembering its answers: a batch's rows mostly share one time."""
    seen: dict[datetime, str] = {}

    def stored(value: datetime) -> str:
        text = seen.get(value)
        if text is None:
            text = seen[value] = sqlite_time(value)
        return text

    return stored


def _write_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    driver: Any = conn.connection.driver_connection
    names = ", ".join(columns)
    if conn.dialect.name == "sqlite":
        placeholders = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"
        with driver_errors(conn, sql):
            driver.executemany(sql, rows)
        return
    sql = f"COPY {table} ({names}) FROM STDIN"
    with driver_errors(conn, sql), driver.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def insert_persons(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """New persons: tuples in ``PERSON_COLUMNS`` order (JSON as text, times as datetimes)."""
    if conn.dialect.name == "sqlite":
        time = _sqlite_times()
        rows = [(*row[:9], time(row[9]), time(row[10]), 0) for row in rows]
    else:
        rows = [(*row, False) for row in rows]
    _write_rows(conn, "persons", (*PERSON_COLUMNS, "protected"), rows)


def update_persons(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Changed persons: tuples in ``PERSON_COLUMNS`` order; every column but ``id`` and
    ``created_at`` is set."""
    if not rows:
        return
    names = [name for name in PERSON_COLUMNS if name not in ("id", "created_at")]
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    cast = "" if sqlite else "::jsonb"
    assignments = ", ".join(
        f"{name} = {mark}{cast if name == 'custom_attributes' else ''}" for name in names
    )
    sql = f"UPDATE persons SET {assignments} WHERE id = {mark}"
    params = []
    time = _sqlite_times()
    for row in rows:
        values = dict(zip(PERSON_COLUMNS, row, strict=True))
        if sqlite:
            values["updated_at"] = time(values["updated_at"])
        params.append((*(values[name] for name in names), values["id"]))
    driver: Any = conn.connection.driver_connection
    cursor = driver.cursor()
    try:
        with driver_errors(conn, sql):
            cursor.executemany(sql, params)
    finally:
        cursor.close()


def insert_identities(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """(kind, value, person_id, created_at)."""
    if conn.dialect.name == "sqlite":
        time = _sqlite_times()
        rows = [(kind, value, pid, time(at)) for kind, value, pid, at in rows]
    _write_rows(conn, "person_identities", ("kind", "value", "person_id", "created_at"), rows)


def insert_tags(conn: Connection, rows: list[tuple[str, str]]) -> None:
    """(person_id, tag)."""
    _write_rows(conn, "person_tags", ("person_id", "tag"), rows)


def insert_changes(
    conn: Connection, at: datetime, source: str, rows: list[tuple[str, str, str, str]]
) -> None:
    """Audit rows of one batch (one time, one source): (person_id, field, old_value,
    new_value), values as JSON text."""
    changed_at: Any = sqlite_time(at) if conn.dialect.name == "sqlite" else at
    columns = ("person_id", "changed_at", "source", "field", "old_value", "new_value")
    stored = [(pid, changed_at, source, name, old, new) for pid, name, old, new in rows]
    _write_rows(conn, "person_changes", columns, stored)


ChangeRow = tuple[str, str, str, str]  # (person_id, field, old_value, new_value), JSON as text


@contextmanager
def changes_stream(
    conn: Connection, at: datetime, source: str
) -> Iterator[Callable[[list[ChangeRow]], None]]:
    """A writer of one batch's audit rows as the batch produces them. On PostgreSQL a COPY
    stays open while the batch's rows are applied, so the server stores the audit written so
    far while this process applies the next rows (the audit is most of a batch's rows, and the
    server's work on them used to wait for the whole batch); nothing else may use ``conn``
    meanwhile. On SQLite, whose work runs in this process anyway, they are written at the end.
    Written within the batch's transaction either way: a batch that fails keeps none."""
    if conn.dialect.name == "sqlite":
        rows: list[ChangeRow] = []
        yield rows.extend
        insert_changes(conn, at, source, rows)
        return
    driver: Any = conn.connection.driver_connection
    columns = "person_id, changed_at, source, field, old_value, new_value"
    sql = f"COPY person_changes ({columns}) FROM STDIN"
    with driver_errors(conn, sql), driver.cursor() as cursor, cursor.copy(sql) as copy:

        def write(rows: list[ChangeRow]) -> None:
            for pid, name, old, new in rows:
                copy.write_row((pid, at, source, name, old, new))

        yield write


EVENT_COLUMNS = EVENT_WRITE_COLUMNS


def insert_events(conn: Connection, rows: list[tuple[Any, ...]], received_at: datetime) -> None:
    """Historical events: tuples in ``EVENT_COLUMNS`` order but for ``received_at`` (the
    batch's), times as the database takes them (``imports.event_checks``), properties as JSON
    text."""
    if not rows:
        return
    received = sqlite_time(received_at) if conn.dialect.name == "sqlite" else received_at
    rows = [(*row[:4], received, *row[4:]) for row in rows]
    _write_rows(conn, "events", EVENT_COLUMNS, rows)
