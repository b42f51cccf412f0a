"""Stored membership: the sweep moves time windows; refresh_person follows one person's writes."""

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from audience.clock import utcnow
from audience.db import Database
from audience.segments import membership, queries, service
from audience.tables import events, persons, segment_members
from tests.segments import dataset


@pytest.fixture
def now(db: Database) -> Iterator[datetime]:
    moment = utcnow()
    with db.write() as conn:
        dataset.load(conn, moment)
    yield moment


def stored(db: Database, segment_id: str) -> set[str]:
    with db.read() as conn:
        query = select(segment_members.c.person_id).where(
            segment_members.c.segment_id == segment_id
        )
        return set(conn.execute(query).scalars())


def segment_events(db: Database, name: str) -> list[str]:
    with db.read() as conn:
        query = select(events.c.person_id).where(events.c.definition_id == name)
        return sorted(conn.execute(query).scalars())


def test_sweep_moves_time_windows(db: Database, now: datetime) -> None:
    rule = {"event": "purchase", "within": {"days": 30}}
    with db.write() as conn:
        segment_id = service.create_segment(conn, "Recent buyers", None, rule)["id"]
    assert stored(db, segment_id) == {"ann", "bob", "dan"}
    with db.write() as conn:
        parsed = service.parse(conn, rule)
        membership.sweep_segment(conn, segment_id, parsed, now + timedelta(days=25))
    assert stored(db, segment_id) == {"ann", "dan"}
    assert segment_events(db, "SegmentLeft") == ["bob"]
    with db.write() as conn:  # sweeping again changes nothing
        membership.sweep_segment(conn, segment_id, parsed, now + timedelta(days=25))
    assert segment_events(db, "SegmentLeft") == ["bob"]


def test_refresh_person_follows_a_write(db: Database, now: datetime) -> None:
    with db.write() as conn:
        gold = service.create_segment(
            conn, "Gold", None, {"customAttribute": "plan", "op": "eq", "value": "gold"}
        )
        beta = service.create_segment(conn, "Beta", None, {"tag": "beta"})
    assert stored(db, gold["id"]) == {"ann"}
    with db.write() as conn:
        conn.execute(
            update(persons).where(persons.c.id == "bob").values(custom_attributes={"plan": "gold"})
        )
        membership.refresh_person(conn, "bob")
        conn.execute(
            update(persons)
            .where(persons.c.id == "ann")
            .values(custom_attributes={"plan": "silver"})
        )
        membership.refresh_person(conn, "ann")
    assert stored(db, gold["id"]) == {"bob"}
    assert stored(db, beta["id"]) == {"ann", "bob"}
    assert segment_events(db, "SegmentLeft") == ["ann"]
    with db.read() as conn:
        assert queries.memberships_of(conn, "bob") == {gold["id"], beta["id"]}


def test_sweep_all_and_the_cli_command(db: Database, now: datetime) -> None:
    with db.write() as conn:
        segment_id = service.create_segment(conn, "Beta", None, {"tag": "beta"})["id"]
        conn.execute(segment_members.delete())
    assert membership.sweep_all(db) == 1
    assert stored(db, segment_id) == {"ann", "bob"}


def test_only_rows_really_changed_get_events(db: Database, now: datetime) -> None:
    """A membership another transaction already stored (a concurrent sweep or refresh) is not
    entered again, so its SegmentEntered is recorded once."""
    with db.write() as conn:
        segment_id = service.create_segment(conn, "Beta", None, {"tag": "beta"})["id"]
        conn.execute(segment_members.delete().where(segment_members.c.person_id == "bob"))
        assert queries.add_members(conn, segment_id, ["bob"], now) == ["bob"]
        assert queries.add_members(conn, segment_id, ["bob", "ann"], now) == []
        membership.refresh_person(conn, "bob")
        assert queries.remove_members(conn, segment_id, ["bob", "nobody"]) == ["bob"]
    assert segment_events(db, "SegmentEntered") == ["ann", "bob"]


def test_one_sweeper_at_a_time(db: Database, database_url: str, now: datetime) -> None:
    from audience.config import Settings
    from audience.db import make_engine
    from audience.worker import PERIODIC, run_job_if_free

    sweep = next(job for job in PERIODIC if job.name == "segment-sweep")
    settings = Settings(database_url=database_url)

    other = Database(make_engine(database_url))  # as another worker process would hold it
    try:
        with other.exclusive("segment-sweep") as taken:
            assert taken
            with db.exclusive("segment-sweep") as second:
                assert not second
            assert run_job_if_free(db, settings, sweep) is False
        assert run_job_if_free(db, settings, sweep) is True
    finally:
        other.engine.dispose()
