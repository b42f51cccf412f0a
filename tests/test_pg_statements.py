"""The PostgreSQL hot-path statements through libpq (``audience.pg_statements``): same
values, transactions and errors as through a psycopg cursor."""

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import IntegrityError

from audience import pg_statements
from audience.clock import utcnow
from audience.db import Database, DriverSelect, DriverStatement
from audience.persons import queries as person_queries
from audience.tables import persons


def test_placeholders_become_numbered_in_order() -> None:
    assert pg_statements.numbered("SELECT %s, %s WHERE a LIKE 'x%%'") == (
        "SELECT $1, $2 WHERE a LIKE 'x%'",
        (),
    )
    assert pg_statements.numbered("SELECT %(b)s, %(a)s, %(b)s") == ("SELECT $1, $2, $1", ("b", "a"))


def test_unsupported_parameters_are_refused_before_anything_is_sent() -> None:
    with pytest.raises(pg_statements.Unsupported):
        pg_statements.execute(object(), "SELECT $1", [Decimal("1.5")])


@pytest.fixture
def pg(db: Database) -> Database:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only")
    return db


_ECHO = DriverStatement(
    "SELECT ?, ?, ?, ?, ?, ?",
    "SELECT CAST(? AS text), CAST(? AS boolean), CAST(? AS bigint), CAST(? AS float8), "
    "CAST(? AS timestamp), CAST(? AS text)",
)


def test_values_come_back_as_psycopg_reads_them(pg: Database) -> None:
    at = datetime(2026, 12, 2, 5, 30, 1, 123000)
    params = ("é ✓", True, 2**40, 1.25, at, None)
    with pg.write() as conn:
        for _ in range(3):  # unnamed, then prepared, then the prepared one again
            assert _ECHO.run(conn, params).fetchall() == [params]
        cursor = conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            _ECHO.postgresql, params
        )
        assert cursor.fetchall() == [params]


def test_a_small_integer_fits_a_function_taking_an_integer(pg: Database) -> None:
    """Sent as ``smallint``, as psycopg sends it (a ``bigint`` would find no function)."""
    statement = DriverStatement("SELECT ?", "SELECT repeat('ab', ?)")
    with pg.write() as conn:
        for _ in range(2):
            assert statement.run(conn, (3,)).fetchall() == [("ababab",)]


def test_a_decimal_parameter_goes_through_psycopg(pg: Database) -> None:
    statement = DriverStatement("SELECT ?", "SELECT CAST(? AS numeric)")
    with pg.write() as conn:
        assert statement.run(conn, (Decimal("1.50"),)).fetchall() == [(Decimal("1.50"),)]


def test_the_first_statement_begins_the_transaction(pg: Database) -> None:
    """A write sent first through libpq is inside the unit of work: it rolls back with it."""
    with pytest.raises(RuntimeError), pg.write() as conn:
        person_queries.insert_anonymous_person(conn, utcnow())
        raise RuntimeError("abort")
    with pg.read() as conn:
        assert conn.execute(select(persons.c.id)).fetchall() == []


_PERSON_ID = DriverSelect(select(persons.c.id).where(persons.c.id == bindparam("b_id")))
_INSERT_ID = DriverStatement(
    "INSERT INTO persons (id, type, custom_attributes, created_at, updated_at, protected) "
    "VALUES (?, 'ANONYMOUS', '{}', ?, ?, false)"
)


def test_errors_are_psycopg_errors_and_the_connection_recovers(pg: Database) -> None:
    now = datetime(2026, 12, 2)
    for _ in range(3):  # a failing prepared statement too
        with pytest.raises(IntegrityError), pg.write() as conn:
            _INSERT_ID.run(conn, ("p-1", now, now))
            _INSERT_ID.run(conn, ("p-1", now, now))
    with pg.write() as conn:
        _INSERT_ID.run(conn, ("p-1", now, now))
        assert _PERSON_ID.first(conn, b_id="p-1") == ("p-1",)
    with pg.read() as conn:
        assert conn.execute(select(persons.c.id)).scalars().all() == ["p-1"]


def test_prepared_statements_outlive_a_rollback(pg: Database) -> None:
    """psycopg deallocates every prepared statement of a session when it rolls back a
    transaction in which it had prepared its own; it prepares none here."""
    now = datetime(2026, 12, 2)
    with pg.write() as conn:
        for _ in range(6):  # more than psycopg's default threshold for preparing
            conn.execute(select(persons.c.id)).fetchall()
        for _ in range(3):
            _PERSON_ID.first(conn, b_id="p-1")
    with pytest.raises(RuntimeError), pg.write() as conn:
        _PERSON_ID.first(conn, b_id="p-1")
        raise RuntimeError("rolled back")
    with pg.write() as conn:
        _INSERT_ID.run(conn, ("p-1", now, now))
        assert _PERSON_ID.first(conn, b_id="p-1") == ("p-1",)


_ISOLATION = DriverStatement("SELECT 1", "SHOW transaction_isolation")


def test_the_transaction_begins_with_the_connection_isolation_level(pg: Database) -> None:
    with pg.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            assert _ISOLATION.run(conn).fetchall() == [("repeatable read",)]
    with pg.write() as conn:
        assert _ISOLATION.run(conn).fetchall() == [("read committed",)]


# --- pipelined transactions (``Database.write(pipelined=True)``) ------------------------------


def _person_ids(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(select(persons.c.id).order_by(persons.c.id)).scalars())


def test_queued_writes_commit_with_the_transaction(pg: Database) -> None:
    now = datetime(2026, 12, 2)
    for _ in range(3):  # unnamed, then prepared, then the prepared ones again
        with pg.write(pipelined=True) as conn:
            answer = _INSERT_ID.send(conn, (f"p-{len(_person_ids(pg))}", now, now))
        assert answer.fetchall() == []
    assert _person_ids(pg) == ["p-0", "p-1", "p-2"]


def test_queued_writes_roll_back_with_the_transaction(pg: Database) -> None:
    now = datetime(2026, 12, 2)
    with pytest.raises(RuntimeError), pg.write(pipelined=True) as conn:
        _INSERT_ID.send(conn, ("p-1", now, now))
        raise RuntimeError("abort")
    with pytest.raises(RuntimeError), pg.write(pipelined=True) as conn:
        _INSERT_ID.send(conn, ("p-2", now, now))
        assert _PERSON_ID.first(conn, b_id="p-2") == ("p-2",)  # sent, then rolled back
        raise RuntimeError("abort")
    assert _person_ids(pg) == []


def test_later_statements_see_queued_writes(pg: Database) -> None:
    """Whatever path the next statement takes: libpq, SQLAlchemy, psycopg's cursor."""
    now = datetime(2026, 12, 2)
    decimal_count = DriverStatement("SELECT ?", "SELECT count(*) + CAST(? AS numeric) FROM persons")
    with pg.write(pipelined=True) as conn:
        _INSERT_ID.send(conn, ("p-1", now, now))
        assert _PERSON_ID.first(conn, b_id="p-1") == ("p-1",)
        _INSERT_ID.send(conn, ("p-2", now, now))
        assert conn.execute(select(persons.c.id).order_by(persons.c.id)).scalars().all() == [
            "p-1",
            "p-2",
        ]
        _INSERT_ID.send(conn, ("p-3", now, now))
        assert decimal_count.run(conn, (Decimal(0),)).fetchall() == [(Decimal(3),)]
    assert _person_ids(pg) == ["p-1", "p-2", "p-3"]


def test_queued_reads_are_answered_when_read(pg: Database) -> None:
    now = datetime(2026, 12, 2)
    with pg.write() as conn:
        _INSERT_ID.run(conn, ("p-1", now, now))
    with pg.write(pipelined=True) as conn:
        first = _PERSON_EXISTS.send(conn, ("p-1",))
        missing = _PERSON_EXISTS.send(conn, ("p-2",))
        _INSERT_ID.send(conn, ("p-2", now, now))
        after = _PERSON_EXISTS.send(conn, ("p-2",))
        assert after.fetchone() == ("p-2",)
        assert missing.fetchall() == []
        assert first.fetchall() == [("p-1",)]


_PERSON_EXISTS = DriverStatement("SELECT id FROM persons WHERE id = ?")


def test_a_queued_write_failing_fails_the_transaction_and_the_connection_recovers(
    pg: Database,
) -> None:
    """The error is raised inside the unit of work (at the next read or the commit), so a
    retrying write runs it again; statements prepared in a failed pipeline stay usable."""
    now = datetime(2026, 12, 2)
    for attempt in range(4):
        with pytest.raises(IntegrityError), pg.write(pipelined=True) as conn:
            _INSERT_ID.send(conn, ("p-1", now, now))
            _INSERT_ID.send(conn, ("p-1", now, now))
            if attempt % 2:
                _PERSON_ID.first(conn, b_id="p-1")  # raised here
    assert _person_ids(pg) == []
    attempts: list[int] = []

    def work(conn: Connection) -> None:
        attempts.append(1)
        _INSERT_ID.send(conn, ("p-1", now, now))
        if len(attempts) == 1:
            _INSERT_ID.send(conn, ("p-1", now, now))

    pg.write_retrying(work)  # a write_retrying unit is not pipelined: immediate failure
    assert len(attempts) == 2
    with pg.write(pipelined=True) as conn:
        _INSERT_ID.send(conn, ("p-2", now, now))
        assert _PERSON_ID.first(conn, b_id="p-1") == ("p-1",)
    assert _person_ids(pg) == ["p-1", "p-2"]


def test_pipelined_is_ignored_on_sqlite(db: Database) -> None:
    """SQLite runs each statement as it comes (``send`` is ``run``)."""
    if not db.is_sqlite:
        pytest.skip("SQLite only")
    now = utcnow()
    with db.write(pipelined=True) as conn:
        person_id = person_queries.insert_anonymous_person(conn, now)
        assert _PERSON_ID.first(conn, b_id=person_id) == (person_id,)
    assert _person_ids(db) == [person_id]
