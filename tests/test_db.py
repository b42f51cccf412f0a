"""``Database.write``: one transaction per unit of work on a connection kept between them."""

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import PendingRollbackError

from audience.clock import utcnow
from audience.config import Settings
from audience.db import Database, make_engine
from audience.tables import persons
from audience.worker import PERIODIC, run_job_if_free


@pytest.fixture
def own_db(database_url: str, db: Database) -> Iterator[Database]:
    """A second handle on the test database, as another process would hold it."""
    other = Database(make_engine(database_url, pool_size=2))
    yield other
    other.close()


def _add_person(conn: object, person_id: str) -> None:
    now = utcnow()
    conn.execute(  # type: ignore[attr-defined]
        insert(persons).values(
            id=person_id, type="ANONYMOUS", custom_attributes={}, created_at=now, updated_at=now
        )
    )


def _count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(persons)).scalar_one())


def test_a_failed_write_changes_nothing_and_the_next_write_starts_clean(own_db: Database) -> None:
    with pytest.raises(RuntimeError), own_db.write() as conn:
        _add_person(conn, "p-failed")
        raise RuntimeError("refused half-way")
    with own_db.write() as conn:
        _add_person(conn, "p-kept")
    assert _count(own_db) == 1


def test_a_kept_connection_sees_what_others_committed(own_db: Database, db: Database) -> None:
    with own_db.write() as conn:  # leaves a kept connection behind
        _add_person(conn, "p-1")
    with db.write() as conn:  # another handle commits meanwhile
        _add_person(conn, "p-2")
    with own_db.write() as conn:
        seen = conn.execute(select(func.count()).select_from(persons)).scalar_one()
    assert seen == 2


def test_a_broken_connection_is_not_kept(own_db: Database) -> None:
    with pytest.raises(PendingRollbackError), own_db.write() as conn:
        _add_person(conn, "p-1")
        conn.invalidate()  # as SQLAlchemy does when the connection is lost mid-transaction
    with own_db.write() as conn:
        _add_person(conn, "p-2")
    assert _count(own_db) == 1  # the first transaction went with its connection


def test_writes_work_again_after_close(own_db: Database) -> None:
    with own_db.write() as conn:
        _add_person(conn, "p-1")
    own_db.close()
    with own_db.write() as conn:
        _add_person(conn, "p-2")
    assert _count(own_db) == 2


def test_the_worker_copies_the_wal_into_the_database_not_a_commit(
    tmp_path: Path, settings: Settings
) -> None:
    """SQLite: commits leave the WAL alone up to 64 MB (a request's commit used to pay the copy
    past 4 MB); the worker's periodic job checkpoints it. (A database file of its own: the
    suite's shared one may hold a WAL near the limit, or another test's checkpoint.)"""
    job = next(job for job in PERIODIC if job.name == "wal-checkpoint")
    sqlite_settings = settings.model_copy(update={"database_url": "sqlite:///x.db"})
    assert job.interval_seconds(sqlite_settings) > 0
    assert job.interval_seconds(settings.model_copy(update={"database_url": "postgresql://x"})) == 0
    path = tmp_path / "wal.db"
    db = Database(make_engine(f"sqlite:///{path}"))
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE pages (body BLOB)")
        db.checkpoint_wal()

        def in_database_file() -> int:
            """Rows in the database file itself, what the WAL holds not counted."""
            with closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as file:
                return int(file.execute("SELECT count(*) FROM pages").fetchone()[0])

        for _ in range(600):  # ~1,200 WAL pages: past the 1,000 SQLite copies by default
            with db.write() as conn:
                conn.exec_driver_sql("INSERT INTO pages VALUES (randomblob(4000))")
        assert in_database_file() == 0  # no commit copied the WAL
        assert run_job_if_free(db, sqlite_settings, job)
        assert in_database_file() == 600
    finally:
        db.close()
