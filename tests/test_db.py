"""``Database.write``: one transaction per unit of work on a connection kept between them."""

from collections.abc import Iterator

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import PendingRollbackError

from audience.clock import utcnow
from audience.db import Database, make_engine
from audience.tables import persons


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
