"""Stored membership: builds and sweeps outside the write lock; refresh_person follows one
person's writes."""

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from audience.clock import utcnow
from audience.db import Database
from audience.segments import membership, queries, service, upkeep
from audience.tables import events, persons, segment_members
from tests.segments import dataset


@pytest.fixture
def now(db: Database) -> Iterator[datetime]:
    moment = utcnow()
    with db.write() as conn:
        dataset.load(conn, moment)
    yield moment


def create(db: Database, name: str, rule: dict) -> str:
    """Save a segment and build it, as the API does."""
    with db.write() as conn:
        segment_id: str = service.create_segment(conn, name, None, rule)["id"]
    assert upkeep.build_segment(db, segment_id)
    return segment_id


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


def shift_history(db: Database, days: int) -> None:
    """Move every event ``days`` into the past: as if that much time had passed."""
    with db.write() as conn:
        for event_id, at in conn.execute(select(events.c.id, events.c.occurred_at)).all():
            moved = at - timedelta(days=days)
            conn.execute(update(events).where(events.c.id == event_id).values(occurred_at=moved))


def test_incremental_sweep_moves_time_windows(db: Database, now: datetime) -> None:
    rule = {"event": "purchase", "within": {"days": 30}}
    segment_id = create(db, "Recent buyers", rule)
    assert stored(db, segment_id) == {"ann", "bob", "dan"}
    nothing = upkeep.sweep_due(db)
    assert (nothing.checked, nothing.entered, nothing.left) == (0, 0, 0)
    # the oldest counted purchases of ann (20 days ago) and bob (10 days ago) leave the window
    # within 21 days; dan's (4 days ago) does not, so dan is not re-evaluated
    swept = upkeep.sweep_due(db, now + timedelta(days=21))
    assert swept.checked == 2
    shift_history(db, 21)
    swept = upkeep.sweep_due(db, now + timedelta(days=21))
    assert stored(db, segment_id) == {"ann", "dan"}
    assert segment_events(db, "SegmentLeft") == ["bob"]
    assert upkeep.sweep_due(db).left == 0  # sweeping again changes nothing
    assert segment_events(db, "SegmentLeft") == ["bob"]


def test_never_within_a_window_enters_when_time_passes(db: Database, now: datetime) -> None:
    rule = {"event": "purchase", "count": {"lte": 0}, "within": {"days": 15}}
    segment_id = create(db, "No recent purchase", rule)
    assert stored(db, segment_id) == {"cid"}
    shift_history(db, 12)  # bob's purchase is now 22 days old, ann's newest 13, dan's 14
    swept = upkeep.sweep_due(db, utcnow() + timedelta(days=12))
    assert swept.entered == 1
    assert stored(db, segment_id) == {"bob", "cid"}
    shift_history(db, 10)
    upkeep.sweep_due(db, utcnow() + timedelta(days=22))
    assert stored(db, segment_id) == {"ann", "bob", "cid", "dan"}


def test_within_last_segments_are_swept_whole(db: Database, now: datetime) -> None:
    rule = {"customAttribute": "lastSeen", "op": "within_last", "days": 3}
    segment_id = create(db, "Seen lately", rule)
    assert stored(db, segment_id) == {"ann"}
    with db.read() as conn:
        row = queries.find(conn, segment_id)
        assert row.status == "ready" and row.sweep_at is not None
    with db.write() as conn:
        conn.execute(
            update(persons).where(persons.c.id == "ann").values(custom_attributes={"plan": "x"})
        )
    assert upkeep.sweep_due(db).left == 1
    assert stored(db, segment_id) == set()


def test_refresh_person_follows_a_write(db: Database, now: datetime) -> None:
    gold = {"id": create(db, "Gold", {"customAttribute": "plan", "op": "eq", "value": "gold"})}
    beta = {"id": create(db, "Beta", {"tag": "beta"})}
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
    segment_id = create(db, "Beta", {"tag": "beta"})
    with db.write() as conn:
        conn.execute(segment_members.delete())
    assert upkeep.sweep_all(db) == 1
    assert stored(db, segment_id) == {"ann", "bob"}


def test_a_build_interrupted_half_way_is_finished_from_the_database(
    db: Database, now: datetime
) -> None:
    with db.write() as conn:
        segment_id = service.create_segment(conn, "Beta", None, {"tag": "beta"})["id"]
    assert upkeep.apply_chunk(db, segment_id, ["ann"]).entered == 1  # then the process died
    with db.read() as conn:
        assert queries.find(conn, segment_id).status == "building"
    assert upkeep.build_pending(db).built == [segment_id]
    assert stored(db, segment_id) == {"ann", "bob"}
    assert segment_events(db, "SegmentEntered") == ["ann", "bob"]
    with db.read() as conn:
        assert queries.find(conn, segment_id).status == "ready"
    assert upkeep.build_pending(db).built == []


def test_only_rows_really_changed_get_events(db: Database, now: datetime) -> None:
    """A membership another transaction already stored (a concurrent sweep or refresh) is not
    entered again, so its SegmentEntered is recorded once."""
    segment_id = create(db, "Beta", {"tag": "beta"})
    with db.write() as conn:
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
        other.close()
