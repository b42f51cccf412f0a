"""Hot-path statements on PostgreSQL through libpq directly (psycopg's ``pq`` layer).

A mobile call runs 4 to 12 small statements. Through a psycopg cursor each costs about 90 µs of
client CPU (cursor set-up, query conversion, psycopg's prepare bookkeeping, result
handling), through ``PGconn.exec_prepared`` about 25 µs for the same round trip
(docs/performance.md, issue 13): on two cores shared with the database, that is most of
the difference between the two backends. libpq releases the GIL while it waits, as
psycopg's own path does.

What stays psycopg's: connections, transactions (psycopg sees the ``BEGIN`` sent here through
libpq's transaction status and commits or rolls back as usual), errors (the result's error as
psycopg's exception class) and the values read (psycopg's loaders for the connection). A
statement runs unnamed on its first use on a connection and is prepared from the second.
Parameters of other types than ``None``, ``str``, ``bool``, ``int``, ``float`` and
``datetime`` go through psycopg's cursor instead.
"""

import re
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import errors, pq
from psycopg.adapt import Transformer

_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
_IDLE = pq.TransactionStatus.IDLE
# The server's type of a parameter; 0 lets it infer one (as psycopg sends ``str``).
_UNKNOWN, _BOOL, _FLOAT8, _TIMESTAMP, _TIMESTAMPTZ = 0, 16, 701, 1114, 1184
_INT2, _INT4, _INT8, _NUMERIC = 21, 23, 20, 1700
_PYFORMAT = re.compile(r"%\((\w+)\)s|%s|%%")


class Unsupported(Exception):
    """A parameter this path does not send: run the statement through psycopg."""


class Result:
    """The rows of a statement, read the ways the hot paths read a cursor."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def __iter__(self) -> Any:
        return iter(self.fetchall())


def numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """psycopg's ``%s`` / ``%(name)s`` SQL as libpq's ``$n`` form, with the parameter names
    in ``$n`` order (empty for positional ``%s``)."""
    names: list[str] = []
    count = 0

    def place(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) == "%%":
            return "%"
        name = match.group(1)
        if name is None:
            count += 1
            return f"${count}"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PYFORMAT.sub(place, sql), tuple(names)


class _Session:
    """What this path keeps per connection: prepared statement names, uses, a loader."""

    __slots__ = ("names", "transformer", "uses")

    def __init__(self, driver: Any) -> None:
        self.names: dict[tuple[str, tuple[int, ...]], bytes] = {}
        self.uses: dict[tuple[str, tuple[int, ...]], int] = {}
        self.transformer = Transformer(driver)


_sessions: "weakref.WeakKeyDictionary[Any, _Session]" = weakref.WeakKeyDictionary()


def execute(driver: Any, sql: str, params: Sequence[Any]) -> Result:
    """Run ``sql`` (``$n`` form) with ``params`` on psycopg connection ``driver``, inside its
    transaction (begun here if none is open). Raises ``Unsupported`` before sending
    anything when a parameter or the connection's settings need psycopg's own path."""
    values, types = _encode(params)
    pgconn = driver.pgconn
    if pgconn.transaction_status == _IDLE and not driver.autocommit:
        _check(driver, pgconn.exec_(_begin(driver)))
    session = _sessions.get(driver)
    if session is None:
        session = _sessions[driver] = _Session(driver)
    key = (sql, types)
    name = session.names.get(key)
    if name is not None:
        result = pgconn.exec_prepared(name, values)
    elif session.uses.get(key, 0) == 0:
        session.uses[key] = 1
        result = pgconn.exec_params(sql.encode(), values, types)
    else:
        name = f"audience_{len(session.names)}".encode()
        _check(driver, pgconn.prepare(name, sql.encode(), types))
        session.names[key] = name
        result = pgconn.exec_prepared(name, values)
    _check(driver, result)
    if result.status != pq.ExecStatus.TUPLES_OK:
        return Result([])
    transformer = session.transformer
    transformer.set_pgresult(result)
    rows: list[tuple[Any, ...]] = transformer.load_rows(0, result.ntuples, tuple)
    transformer.set_pgresult(None)
    return Result(rows)


def _begin(driver: Any) -> bytes:
    """``BEGIN`` as psycopg would send it: with the connection's isolation level, which
    SQLAlchemy leaves set (to the server's default) on a pooled connection once any
    transaction on it asked for another."""
    if driver.read_only is not None or driver.deferrable is not None:
        raise Unsupported("transaction settings")
    level = driver.isolation_level
    if level is None:
        return b"BEGIN"
    return b"BEGIN ISOLATION LEVEL " + level.name.replace("_", " ").encode()


def _encode(params: Sequence[Any]) -> tuple[list[bytes | None], tuple[int, ...]]:
    values: list[bytes | None] = []
    types: list[int] = []
    for value in params:
        kind = type(value)
        if value is None:
            values.append(None)
            types.append(_UNKNOWN)
        elif kind is str:
            values.append(value.encode())
            types.append(_UNKNOWN)
        elif kind is bool:
            values.append(b"t" if value else b"f")
            types.append(_BOOL)
        elif kind is int:
            values.append(str(value).encode())
            types.append(_int_type(value))
        elif kind is float:
            values.append(repr(value).encode())
            types.append(_FLOAT8)
        elif kind is datetime:
            values.append(value.isoformat(sep=" ").encode())
            types.append(_TIMESTAMPTZ if value.tzinfo is not None else _TIMESTAMP)
        else:
            raise Unsupported(kind.__name__)
    return values, tuple(types)


def _int_type(value: int) -> int:
    """The smallest integer type holding ``value``, as psycopg picks it (a function taking an
    ``integer`` accepts a ``smallint`` but not a ``bigint``)."""
    if -(2**15) <= value < 2**15:
        return _INT2
    if -(2**31) <= value < 2**31:
        return _INT4
    if -(2**63) <= value < 2**63:
        return _INT8
    return _NUMERIC


def _check(driver: Any, result: Any) -> None:
    if result.status not in _OK:
        raise errors.error_from_result(result, encoding=driver.info.encoding)
