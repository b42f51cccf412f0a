"""Migration bulk_0005 turns an existing PostgreSQL events table, with its rows, into monthly
partitions; ingestion's duplicate handling still holds afterwards."""

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from audience.migrate import alembic_config


@pytest.fixture
def scratch_url(database_url: str) -> Iterator[str]:
    if database_url.startswith("sqlite"):
        pytest.skip("events are partitioned on PostgreSQL only")
    url = make_url(database_url)
    name = f"{url.database}_migration"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_existing_events_move_into_monthly_partitions(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    command.upgrade(config, "bulk_0004")
    engine = create_engine(scratch_url)
    rows = [
        ("p1", "r1", "buy", "2020-01-15", "e1"),
        ("p1", "r1", "buy", "2020-03-15", "e2"),
        ("p2", None, "buy", "2024-07-01", None),
    ]
    with engine.begin() as conn:
        for person, reg, definition, at, event_id in rows:
            conn.execute(
                text(
                    "INSERT INTO events (person_id, push_registration_id, definition_id, "
                    "occurred_at, received_at, event_id, properties) "
                    "VALUES (:p, :r, :d, :at, :at, :e, '{}')"
                ),
                {"p": person, "r": reg, "d": definition, "at": at, "e": event_id},
            )
    engine.dispose()

    command.upgrade(config, "head")

    engine = create_engine(scratch_url)
    with engine.begin() as conn:
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'events'")).scalar()
        assert kind == "p"  # partitioned
        parts = set(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'events'::regclass"
                )
            ).scalars()
        )
        assert {"events_p202001", "events_p202003", "events_p202407", "events_default"} <= parts
        stored = conn.execute(
            text("SELECT id, event_id, tableoid::regclass::text FROM events ORDER BY id")
        ).all()
        assert [(r[0], r[1]) for r in stored] == [(1, "e1"), (2, "e2"), (3, None)]
        assert stored[0][2] == "events_p202001"
        # ids keep coming from the same sequence
        new_id = conn.execute(
            text(
                "INSERT INTO events (person_id, definition_id, occurred_at, received_at, "
                "properties) VALUES ('p3', 'buy', now(), now(), '{}') RETURNING id"
            )
        ).scalar()
        assert new_id == 4
        # the (installation, eventId, time) constraint still refuses a true duplicate
        with pytest.raises(Exception, match="UniqueViolation"), conn.begin_nested():
            conn.execute(
                text(
                    "INSERT INTO events (person_id, push_registration_id, definition_id, "
                    "occurred_at, received_at, event_id, properties) "
                    "VALUES ('p1', 'r1', 'buy', '2020-01-15', now(), 'e1', '{}')"
                )
            )
    engine.dispose()

    command.downgrade(config, "bulk_0004")
    engine = create_engine(scratch_url)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 4
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'events'")).scalar()
        assert kind == "r"
    engine.dispose()
