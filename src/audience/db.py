"""Engine creation and transactions for SQLite and PostgreSQL.

SQLite runs in WAL mode with foreign keys on; write transactions start with ``BEGIN IMMEDIATE``
so concurrent writers queue on the database lock instead of failing half-way with
"database is locked" when a read transaction tries to upgrade.
"""

import fcntl
import hashlib
import json
import os
import random
import threading
import time
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Engine,
    Select,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from audience import pg_statements, sqlite_library
from audience.memory import release_freed_memory

T = TypeVar("T")

# Once, before this process opens any connection (the module says why); True if it took.
SQLITE_MEMORY_STATISTICS_OFF = sqlite_library.turn_off_memory_statistics()


class ConcurrentChange(Exception):
    """A concurrent transaction changed what this one read; running it again will see it."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# Connections beyond ``pool_size`` are closed when handed back, so a pool smaller than the
# usual concurrency keeps opening PostgreSQL connections (a new backend process each):
# with 10 for 16 concurrent ingestion requests per worker, p99 was 141 ms; with 20, 90 ms.
MAX_OVERFLOW = 10


def make_engine(url: str, pool_size: int = 20, statement_timeout: float | None = None) -> Engine:
    """The application's engine. ``statement_timeout`` (seconds) bounds every statement:
    PostgreSQL's ``statement_timeout``, a progress handler on SQLite; past it the statement
    fails and the request answers 503 ``QUERY_TIMEOUT`` (``audience.query_budget``)."""
    # hide_parameters: a logged database error shows the SQL, never the values (person ids,
    # identities, attribute values) bound to it.
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=MAX_OVERFLOW,
            hide_parameters=True,
        )
        _configure_sqlite(engine)
        if statement_timeout:
            _sqlite_statement_budget(engine, statement_timeout)
        return engine
    # psycopg prepares nothing itself: on a rollback it deallocates every prepared statement
    # of the session (``DEALLOCATE ALL``), the hot paths' own ones too
    # (``audience.pg_statements`` prepares those).
    connect_args: dict[str, Any] = {"prepare_threshold": None}
    if statement_timeout:
        connect_args["options"] = f"-c statement_timeout={max(1, int(statement_timeout * 1000))}"
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=MAX_OVERFLOW,
        pool_pre_ping=False,
        hide_parameters=True,
        connect_args=connect_args,
    )
    event.listen(engine, "before_cursor_execute", _send_queued_first)
    return engine


def _send_queued_first(_conn: Connection, cursor: Any, *_args: Any) -> None:
    """Statements queued in a pipelined transaction (``pg_statements``) run before any
    statement SQLAlchemy sends on the connection."""
    pg_statements.flush(cursor.connection)


# The WAL is copied into the database file by the worker (``checkpoint_wal``, every
# ``AUDIENCE_WAL_CHECKPOINT_SECONDS``), not by whichever commit takes it past SQLite's
# default 1,000 pages (4 MB): that commit paid the copy and its fsyncs, and an import batch
# (~20 MB of index pages) paid it every batch; pages every commit rewrites (index roots, the
# sequence) were copied once per 4 MB instead of once per round. A commit still checkpoints
# past 64 MB, should no worker run (docs/decisions.md, Serving).
WAL_AUTOCHECKPOINT_PAGES = 16384

# Virtual machine instructions between two looks at the clock: often enough to stop a runaway
# query within milliseconds, rarely enough to cost nothing measurable.
_PROGRESS_STEPS = 10_000


def _sqlite_statement_budget(engine: Engine, seconds: float) -> None:
    """SQLite has no statement timeout: a progress handler interrupts a statement once its
    deadline (set as it starts) has passed."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        deadline: list[float | None] = [None]
        record.info["statement_deadline"] = deadline

        def past_deadline() -> int:
            due = deadline[0]
            return 1 if due is not None and time.monotonic() > due else 0

        dbapi_connection.set_progress_handler(past_deadline, _PROGRESS_STEPS)

    def _deadline_of(conn: Connection) -> list[float | None] | None:
        holder: list[float | None] | None = conn.info.get("statement_deadline")
        return holder

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Connection, *_args: Any) -> None:
        holder = _deadline_of(conn)
        if holder is not None:
            holder[0] = time.monotonic() + seconds

    # The deadline holds while rows are fetched (SQLite computes them lazily) and is dropped
    # when the transaction begins or ends; statements run on the driver directly (the hot
    # path) fall under the deadline of the statement before them, if any.
    @event.listens_for(engine, "begin")
    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _end(conn: Connection, *_args: Any) -> None:
        holder = _deadline_of(conn)
        if holder is not None:
            holder[0] = None

    @event.listens_for(engine, "handle_error")
    def _failed(context: Any) -> None:
        conn = context.connection
        holder = _deadline_of(conn) if conn is not None else None
        if holder is not None:
            holder[0] = None


def make_migration_engine(url: str) -> Engine:
    """A throw-away engine for migrations (no pooled connections left behind)."""
    engine = create_engine(url, poolclass=NullPool, hide_parameters=True)
    if is_sqlite(url):
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (the driver's implicit one can't
        # be IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Straight to the driver: every request begins at least one transaction, and
        # ``exec_driver_sql`` costs ten times the statement itself.
        begin = "BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN"
        conn.connection.driver_connection.execute(begin)  # type: ignore[union-attr]


@contextmanager
def driver_errors(conn: Connection, sql: str) -> Iterator[None]:
    """The driver's errors as SQLAlchemy's (``IntegrityError``, ``OperationalError``, …), as
    if the statement had gone through ``conn.execute``: retries on a lost unique race or a
    deadlock, and the 503 of a statement past its budget, work the same on the driver path."""
    try:
        yield
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            sql, None, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True,
            dialect=conn.dialect,
        ) from exc


# ``pg_statements.execute`` or ``.send``: (psycopg connection, ``$n`` SQL, values) -> rows.
_LibpqCall = Callable[[Any, str, Sequence[Any]], "pg_statements.Result"]


class DriverStatement:
    """One hot-path statement run straight on the DB-API connection under a SQLAlchemy
    ``Connection``, inside its transaction.

    On the ingestion path SQLAlchemy's execution machinery costs several times the statement
    itself (about 17 µs against 2.5 µs for a primary-key lookup on SQLite). Only plain
    statements go this way: results come back as the driver gives them (on SQLite, text for
    datetimes and JSON), so callers read just the columns they can take as they are.
    The SQL is written with ``?`` placeholders; PostgreSQL's ``%s`` form is derived from it.
    """

    def __init__(self, sqlite: str, postgresql: str | None = None) -> None:
        self.sqlite = sqlite
        self.postgresql = (postgresql or sqlite).replace("?", "%s")
        self._libpq = pg_statements.numbered(self.postgresql)[0]

    def run(self, conn: Connection, params: Sequence[Any] = ()) -> Any:
        """The driver's cursor, executed (on PostgreSQL, its rows through libpq: see
        ``audience.pg_statements``); the transaction must have begun (``Database``'s do)."""
        return self._run(conn, params, pg_statements.execute)

    def send(self, conn: Connection, params: Sequence[Any] = ()) -> Any:
        """:meth:`run`, except in a pipelined PostgreSQL transaction, where the statement is
        queued (``pg_statements.send``): for writes whose rows nobody reads, and reads whose
        rows are read later (the answer's ``fetchall`` sends the queue)."""
        return self._run(conn, params, pg_statements.send)

    def _run(self, conn: Connection, params: Sequence[Any], libpq: _LibpqCall) -> Any:
        sql = self._sql(conn)
        driver: Any = conn.connection.driver_connection
        with driver_errors(conn, sql):
            if conn.dialect.name != "sqlite":
                try:
                    return libpq(driver, self._libpq, params)
                except pg_statements.Unsupported:
                    pg_statements.flush(driver)
            return driver.execute(sql, params)

    def run_many(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        sql = self._sql(conn)
        driver: Any = conn.connection.driver_connection
        with driver_errors(conn, sql):
            if conn.dialect.name != "sqlite":
                pg_statements.flush(driver)
            cursor = driver.cursor()
            try:
                cursor.executemany(sql, rows)
            finally:
                cursor.close()

    def _sql(self, conn: Connection) -> str:
        return self.sqlite if conn.dialect.name == "sqlite" else self.postgresql


class DriverSelect:
    """A SELECT built with SQLAlchemy once and run on the DB-API connection (see
    ``DriverStatement``), for the mobile hot paths' reads: ``conn.execute`` of a cached
    statement cost about 60 µs against 5 µs on the driver (SQLite).

    Rows are named tuples of the selected columns with the values SQLAlchemy would give: on
    SQLite, ``DateTime`` text, ``JSON`` text and ``Boolean`` integers are converted (psycopg
    already answers those types). Parameters are plain values (strings, numbers), bound by
    name; expanding ``IN`` parameters are not supported.
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        columns = list(statement.selected_columns)
        self.row: Any = namedtuple("DriverRow", [column.key for column in columns])  # type: ignore[misc]
        # (position, converter) of the columns SQLite answers in another form: few of them.
        self._sqlite_conversions = [
            (index, convert)
            for index, column in enumerate(columns)
            if (convert := _sqlite_converter(column.type)) is not None
        ]
        self._forms: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {}
        self._libpq: tuple[str, tuple[str, ...]] = ("", ())

    def _form(self, conn: Connection) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        form = self._forms.get(conn.dialect.name)
        if form is None:
            compiled = self.statement.compile(dialect=conn.dialect)
            order = tuple(compiled.positiontup or ())
            form = self._forms[conn.dialect.name] = (str(compiled), order, dict(compiled.params))
            if conn.dialect.name != "sqlite":
                self._libpq = pg_statements.numbered(form[0])
        return form

    def rows(self, conn: Connection, **params: Any) -> list[Any]:
        sql, order, defaults = self._form(conn)
        values = defaults | params
        driver: Any = conn.connection.driver_connection
        if conn.dialect.name == "sqlite":
            with driver_errors(conn, sql):
                found = driver.execute(sql, [values[name] for name in order]).fetchall()
            make, conversions = self.row._make, self._sqlite_conversions
            if not conversions:
                return [make(r) for r in found]
            rows = []
            for r in found:
                cells = list(r)
                for index, convert in conversions:
                    if cells[index] is not None:
                        cells[index] = convert(cells[index])
                rows.append(make(cells))
            return rows
        libpq, names = self._libpq
        with driver_errors(conn, sql):
            try:
                found = pg_statements.execute(
                    driver, libpq, [values[name] for name in names]
                ).fetchall()
            except pg_statements.Unsupported:
                pg_statements.flush(driver)
                found = driver.execute(sql, values).fetchall()
        return [self.row._make(r) for r in found]

    def first(self, conn: Connection, **params: Any) -> Any | None:
        found = self.rows(conn, **params)
        return found[0] if found else None


def _sqlite_converter(type_: Any) -> Callable[[Any], Any] | None:
    if isinstance(type_, DateTime):
        return lambda v: datetime.fromisoformat(v) if isinstance(v, str) else v
    if isinstance(type_, JSON):
        return lambda v: json.loads(v) if isinstance(v, str) else v
    if isinstance(type_, Boolean):
        return bool
    return None


# Rows a ``TableWriter`` sends as one multi-row ``VALUES`` on PostgreSQL (more: executemany).
_MULTI_ROW_VALUES = 50


class TableWriter:
    """Inserts into one table, and updates of one row by key, on the DB-API connection (see
    ``DriverStatement``): the mobile hot paths write persons, installations and audit rows
    on every call, and building ``insert(...).values(**values)`` cost more than running it.

    One statement per set of columns, built on first use; in a pipelined transaction the
    writes are queued (``DriverStatement.send``). Values are bound as SQLAlchemy's
    column types would bind them: JSON as its text (``None`` as JSON ``null``, as
    SQLAlchemy's ``JSON`` does), datetimes as text on SQLite.
    """

    def __init__(self, table: Table, key: str = "id") -> None:
        self.table = table
        self.key = key
        self._json = {c.name for c in table.columns if isinstance(c.type, JSON)}
        self._times = {c.name for c in table.columns if isinstance(c.type, DateTime)}
        self._statements: dict[tuple[str, tuple[str, ...], int], DriverStatement] = {}

    def insert(self, conn: Connection, **values: Any) -> None:
        self.insert_many(conn, [values])

    def insert_many(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Rows with the same columns (those of the first row).

        On PostgreSQL a few rows (an audit's changes) go as one multi-row ``VALUES``:
        psycopg's ``executemany`` runs a pipeline, about 200 µs of client CPU for two rows
        against 80 µs for the one statement (docs/performance.md)."""
        if not rows:
            return
        columns = tuple(rows[0])
        params = [self._params(conn, columns, row) for row in rows]
        if len(params) == 1:
            self._statement("insert", columns).send(conn, params[0])
        elif conn.dialect.name != "sqlite" and len(params) <= _MULTI_ROW_VALUES:
            flat = [value for row in params for value in row]
            self._statement("insert", columns, len(params)).send(conn, flat)
        else:
            self._statement("insert", columns).run_many(conn, params)

    def update(self, conn: Connection, key_value: Any, **values: Any) -> None:
        columns = tuple(values)
        params = self._params(conn, columns, values)
        self._statement("update", columns).send(conn, [*params, key_value])

    def _params(self, conn: Connection, columns: tuple[str, ...], row: dict[str, Any]) -> list:
        sqlite = conn.dialect.name == "sqlite"
        params = []
        for column in columns:
            value = row[column]
            if column in self._json:
                value = json.dumps(value)
            elif sqlite and column in self._times and value is not None:
                value = sqlite_time(value)
            params.append(value)
        return params

    def _statement(self, kind: str, columns: tuple[str, ...], rows: int = 1) -> DriverStatement:
        statement = self._statements.get((kind, columns, rows))
        if statement is None:
            forms = []
            for jsonb in (False, True):
                places = [
                    "CAST(? AS jsonb)" if jsonb and c in self._json else "?" for c in columns
                ]
                if kind == "insert":
                    values = ", ".join([f"({', '.join(places)})"] * rows)
                    forms.append(
                        f"INSERT INTO {self.table.name} ({', '.join(columns)}) VALUES {values}"
                    )
                else:
                    sets = ", ".join(f"{c} = {p}" for c, p in zip(columns, places, strict=True))
                    forms.append(f"UPDATE {self.table.name} SET {sets} WHERE {self.key} = ?")
            statement = self._statements[(kind, columns, rows)] = DriverStatement(*forms)
        return statement


def sqlite_time(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite ``DateTime`` stores, so reads and comparisons match
    values bound on the driver."""
    return value.isoformat(sep=" ", timespec="microseconds")


class SqliteWriterQueue:
    """Queues SQLite writers so they wait their turn instead of polling.

    SQLite allows one writer at a time; a blocked ``BEGIN IMMEDIATE`` sleeps in the busy handler
    (1, 2, 5, 10 … 100 ms), which wrecks tail latency under load. Threads of this process queue
    on a lock, and processes (uvicorn workers) on an ``flock`` of a file beside the database;
    both wake the next writer as soon as the lock is released.
    """

    def __init__(self, database_path: str | None) -> None:
        self._threads = threading.RLock()
        self._depth = 0
        self._path = f"{database_path}.writers.lock" if database_path else None
        self._fd: int | None = None

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._threads:
            self._depth += 1
            outermost = self._depth == 1
            try:
                if outermost and self._path is not None:
                    if self._fd is None:
                        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                    fcntl.flock(self._fd, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    if outermost and self._fd is not None:
                        fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                self._depth -= 1


def _sqlite_file(engine: Engine) -> str | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


# Write connections a ``Database`` keeps open between transactions: SQLite has one writer at
# a time per process; on PostgreSQL they are taken from the pool (``pool_size``, 20 by
# default), so reads keep most of it.
_IDLE_WRITERS_SQLITE = 1
_IDLE_WRITERS = 8


class Database:
    """The application's handle on the database: one transaction per unit of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._writers = SqliteWriterQueue(_sqlite_file(engine)) if self.is_sqlite else None
        # Write connections kept open between units of work (see ``write``).
        self._idle_writers: list[Connection] = []
        self._idle_limit = _IDLE_WRITERS_SQLITE if self.is_sqlite else _IDLE_WRITERS

    def close(self) -> None:
        """Close the kept write connections and the engine's pool."""
        while self._idle_writers:
            self._idle_writers.pop().close()
        self.engine.dispose()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, pipelined: bool = False) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on any error.

        The connection is one kept from an earlier write when there is one: checking a
        connection out of SQLAlchemy's pool and back (events, reset, a new ``Connection``)
        cost about 170 µs a transaction, a sixth of a one-event request (docs/performance.md).

        ``pipelined`` (PostgreSQL; the mobile calls): statements sent with
        ``DriverStatement.send`` are queued and travel together, the last of them with the
        ``COMMIT`` (``audience.pg_statements``). Only for units of work where any failing
        statement fails the whole transaction (no savepoint catching one) and SQL runs only
        through ``DriverStatement``, ``DriverSelect``, ``TableWriter`` and SQLAlchemy.
        """
        with self._writer_turn():
            conn = self._take_writer()
            try:
                if pipelined and not self.is_sqlite:
                    with conn.begin():
                        yield from self._pipelined(conn)
                else:
                    with conn.begin():
                        yield conn
            finally:
                self._keep_writer(conn)

    def _pipelined(self, conn: Connection) -> Iterator[Connection]:
        driver: Any = conn.connection.driver_connection
        pg_statements.open_pipeline(driver)
        try:
            yield conn
            with driver_errors(conn, "COMMIT"):
                pg_statements.commit(driver)
        finally:
            pg_statements.close_pipeline(driver)

    def _take_writer(self) -> Connection:
        try:
            return self._idle_writers.pop()
        except IndexError:
            return self.engine.connect().execution_options(write=True)

    def _keep_writer(self, conn: Connection) -> None:
        """Keep a connection whose transaction ended cleanly; close any other (broken, or one
        too many: the kept ones are out of the pool, so few are kept)."""
        if (
            conn.invalidated
            or conn.closed
            or conn.in_transaction()
            or len(self._idle_writers) >= self._idle_limit
        ):
            conn.close()
        else:
            self._idle_writers.append(conn)

    def checkpoint_wal(self) -> None:
        """Copy SQLite's WAL into the database file as far as readers allow (``PASSIVE``:
        writers and readers go on meanwhile); nothing on PostgreSQL."""
        if not self.is_sqlite:
            return
        with self.engine.connect() as conn:
            driver: Any = conn.connection.driver_connection
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """A lock named ``name`` across every process using this database, taken only if it is
        free; yields whether it was taken. Lets one of several workers run a periodic job."""
        if self.is_sqlite:
            path = _sqlite_file(self.engine)
            if path is None:
                yield True
                return
            fd = os.open(f"{path}.{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    yield False
                    return
                try:
                    yield True
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with self.engine.connect() as conn:
            taken = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            if not taken:
                yield False
                return
            try:
                yield True
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()

    def _writer_turn(self) -> AbstractContextManager[None]:
        return self._writers.turn() if self._writers is not None else nullcontext()

    def write_retrying(
        self, work: Callable[[Connection], T], attempts: int = 8, pipelined: bool = False
    ) -> T:
        """Run ``work`` in a write transaction, again from the start if a concurrent one won a
        unique value first (PostgreSQL aborts the transaction on the violation), ``work`` saw
        a concurrent change, or PostgreSQL chose it as a deadlock or serialization victim
        (after a short random pause, so the two do not collide again); the last failure
        propagates. ``pipelined``: see :meth:`write` (a queued write's failure is raised
        inside the unit of work, so it is retried the same way)."""
        for attempt in range(attempts):
            try:
                with self.write(pipelined) as conn:
                    return work(conn)
            except (IntegrityError, ConcurrentChange):
                if attempt == attempts - 1:
                    raise
            except OperationalError as exc:
                if attempt == attempts - 1 or not is_lock_conflict(exc):
                    raise
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")


# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back
# whole and may simply run again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_lock_conflict(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


@contextmanager
def sqlite_page_cache(conn: Connection, kib: int) -> Iterator[None]:
    """A larger SQLite page cache (the default is 2 MB) for one bulk unit of work on this
    connection (an import batch writing all over the events indexes), set back before the
    connection returns to the pool, and the pages it held given back to the OS: freed only,
    they stayed resident in the malloc arena of the thread that ran the unit, so a long
    import kept a cache for each worker thread that had run a batch (``audience.memory``).
    Nothing on PostgreSQL."""
    if conn.dialect.name != "sqlite":
        yield
        return
    driver: Any = conn.connection.driver_connection
    (usual,) = driver.execute("PRAGMA cache_size").fetchone()
    driver.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        driver.execute(f"PRAGMA cache_size = {int(usual)}")
        release_freed_memory()
