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

**Pipelines.** Each round trip also costs a wake-up of the waiting thread and of the
database's backend on the same two cores, so statements travel together where the call
allows (libpq's pipeline mode, one ``Sync`` for all): the ``BEGIN`` goes with the
transaction's first statement, and inside a pipelined transaction (:func:`open_pipeline`,
the mobile calls' ``Database.write(pipelined=True)``) statements are queued by
:func:`send` — writes whose rows nobody reads, and reads whose rows are read later — until
rows are needed (:func:`execute`, or a queued read's rows), another path runs SQL on the
connection (:func:`flush`), or the transaction commits (:func:`commit`: the queue and
``COMMIT`` in one round trip). A queued write's error is raised where the queue is sent,
still inside the transaction, which it aborts as before.
"""

import re
import select
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import errors, pq
from psycopg.adapt import Transformer

_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
_TUPLES_OK, _FATAL = pq.ExecStatus.TUPLES_OK, pq.ExecStatus.FATAL_ERROR
_PIPELINE_SYNC = pq.ExecStatus.PIPELINE_SYNC
_IDLE = pq.TransactionStatus.IDLE
# The server's type of a parameter; 0 lets it infer one (as psycopg sends ``str``).
_UNKNOWN, _BOOL, _FLOAT8, _TIMESTAMP, _TIMESTAMPTZ = 0, 16, 701, 1114, 1184
_INT2, _INT4, _INT8, _NUMERIC = 21, 23, 20, 1700
_PYFORMAT = re.compile(r"%\((\w+)\)s|%s|%%")
# Commands are queued as statements without parameters: prepared from their second use, as
# the others (the server then parses neither again).
_COMMIT: tuple[bytes, tuple[int, ...]] = (b"COMMIT", ())


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


class Pending(Result):
    """The rows of a queued statement: the queue is sent when they are first read."""

    __slots__ = ("_driver", "_sent")

    def __init__(self, driver: Any) -> None:
        super().__init__([])
        self._driver = driver
        self._sent = False

    def _arrived(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows
        self._sent = True

    def fetchall(self) -> list[tuple[Any, ...]]:
        if not self._sent:
            flush(self._driver)
            if not self._sent:
                raise RuntimeError("the statement was discarded with its transaction")
        return super().fetchall()

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self.fetchall()
        self._rows = rows[1:]
        return rows[0] if rows else None


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


# A queued statement: (SQL, parameter types), values, and where its rows go (None: nowhere).
_Key = tuple[bytes, tuple[int, ...]]
_Queued = tuple[_Key, Sequence[bytes | None], Pending | None]


class _Session:
    """What this path keeps per connection: prepared statement names, uses, a loader, the
    queue of a pipelined transaction."""

    __slots__ = ("names", "pipelining", "poller", "prepared", "queue", "transformer", "uses")

    def __init__(self, driver: Any) -> None:
        self.names: dict[_Key, bytes] = {}
        self.prepared = 0  # statements prepared: the next one's name
        self.uses: dict[_Key, int] = {}
        self.transformer = Transformer(driver)
        self.queue: list[_Queued] = []
        self.pipelining = False
        self.poller = select.poll()
        self.poller.register(driver.pgconn.socket, select.POLLIN)


_sessions: "weakref.WeakKeyDictionary[Any, _Session]" = weakref.WeakKeyDictionary()


def _session(driver: Any) -> _Session:
    session = _sessions.get(driver)
    if session is None:
        session = _sessions[driver] = _Session(driver)
    return session


def execute(driver: Any, sql: str, params: Sequence[Any]) -> Result:
    """Run ``sql`` (``$n`` form) with ``params`` on psycopg connection ``driver``, inside its
    transaction (begun here if none is open), with anything queued before it. Raises
    ``Unsupported`` before sending anything when a parameter or the connection's settings
    need psycopg's own path (send the queue first: :func:`flush`)."""
    values, types = _encode(params)
    session = _session(driver)
    pgconn = driver.pgconn
    if session.queue or (pgconn.transaction_status == _IDLE and not driver.autocommit):
        pending = Pending(driver)
        _enqueue(driver, session, (sql.encode(), types), values, pending)
        _send_queue(driver, session)
        return pending
    key = (sql.encode(), types)
    name = session.names.get(key)
    if name is not None:
        result = pgconn.exec_prepared(name, values)
    elif session.uses.get(key, 0) == 0:
        session.uses[key] = 1
        result = pgconn.exec_params(key[0], values, types)
    else:
        name = _new_name(session)
        _check(driver, pgconn.prepare(name, key[0], types))
        session.names[key] = name
        result = pgconn.exec_prepared(name, values)
    _check(driver, result)
    return Result(_rows(session, result))


def send(driver: Any, sql: str, params: Sequence[Any]) -> Result:
    """:func:`execute`, or in a pipelined transaction the statement queued: its rows (if
    any are wanted) are read from the answer, which sends the queue when first read."""
    session = _session(driver)
    if not session.pipelining:
        return execute(driver, sql, params)
    values, types = _encode(params)
    pending = Pending(driver)
    _enqueue(driver, session, (sql.encode(), types), values, pending)
    return pending


def open_pipeline(driver: Any) -> None:
    """Queue :func:`send`'s statements on this connection until its transaction ends."""
    _session(driver).pipelining = True


def close_pipeline(driver: Any) -> None:
    """End the pipelined transaction: anything still queued is dropped (rolled back)."""
    session = _sessions.get(driver)
    if session is not None:
        session.pipelining = False
        session.queue.clear()


def flush(driver: Any) -> None:
    """Send what is queued on this connection (before SQL on another path)."""
    session = _sessions.get(driver)
    if session is not None and session.queue:
        _send_queue(driver, session)


def commit(driver: Any) -> None:
    """Send what is queued and ``COMMIT``, in one round trip (psycopg's commit then finds no
    transaction); with nothing queued, psycopg commits as usual. On an error the transaction
    is left for the caller to roll back."""
    session = _sessions.get(driver)
    if session is None or not session.queue:
        return
    session.queue.append((_COMMIT, (), None))
    _send_queue(driver, session)


def _enqueue(
    driver: Any,
    session: _Session,
    key: _Key,
    values: Sequence[bytes | None],
    pending: Pending | None,
) -> None:
    if not session.queue and driver.pgconn.transaction_status == _IDLE and not driver.autocommit:
        session.queue.append(((_begin(driver), ()), (), None))
    session.queue.append((key, values, pending))


def _send_queue(driver: Any, session: _Session) -> None:
    """The queue as one pipeline; every answer read before returning (or raising the first
    error: the statements after it were not run, and the transaction is aborted)."""
    queue, session.queue = session.queue, []
    pgconn = driver.pgconn
    prepared: list[_Key] = []  # prepared in this pipeline
    targets: list[Pending | None] = []  # one per answer, in order
    pgconn.enter_pipeline_mode()
    try:
        for key, values, pending in queue:
            name = session.names.get(key)
            if name is None and session.uses.get(key, 0) == 0:
                session.uses[key] = 1
                pgconn.send_query_params(key[0], values, key[1])
            else:
                if name is None:
                    name = session.names[key] = _new_name(session)
                    pgconn.send_prepare(name, key[0], key[1])
                    prepared.append(key)
                    targets.append(None)
                pgconn.send_query_prepared(name, values)
            targets.append(pending)
        pgconn.pipeline_sync()
        while pgconn.flush():  # the socket's buffer is full (a large batch): wait for room
            writable = select.poll()
            writable.register(pgconn.socket, select.POLLOUT)
            writable.poll()
        failure = _read_answers(driver, session, targets)
    finally:
        if pgconn.pipeline_status != pq.PipelineStatus.OFF:
            try:
                pgconn.exit_pipeline_mode()
            except errors.OperationalError:
                pgconn.finish()  # answers left unread: the connection cannot be used again
    if failure is not None:
        for key in prepared:  # maybe not prepared: prepared again, under a new name, if used
            session.names.pop(key, None)
        _check(driver, failure)


def _new_name(session: _Session) -> bytes:
    session.prepared += 1
    return f"audience_{session.prepared}".encode()


def _read_answers(driver: Any, session: _Session, targets: list[Pending | None]) -> Any:
    """Each answer to its target, up to the pipeline's ``Sync``; the first failure, if any."""
    pgconn = driver.pgconn
    failure = None
    index = 0
    while True:
        while pgconn.is_busy():
            session.poller.poll()  # the GIL is released while waiting
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:  # the end of one statement's answer
            continue
        status = result.status
        if status == _PIPELINE_SYNC:
            return failure
        target = targets[index]
        index += 1
        if status == _FATAL and failure is None:
            failure = result
        elif target is not None and failure is None:
            target._arrived(_rows(session, result))


def _rows(session: _Session, result: Any) -> list[tuple[Any, ...]]:
    if result.status != _TUPLES_OK:
        return []
    transformer = session.transformer
    transformer.set_pgresult(result)
    rows: list[tuple[Any, ...]] = transformer.load_rows(0, result.ntuples, tuple)
    transformer.set_pgresult(None)
    return rows


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
