"""The PostgreSQL hot-path statements through libpq (``audience.pg_statements``): same
values, transactions and errors as through a psycopg cursor."""

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, select
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
