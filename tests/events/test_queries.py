"""The batch insert prepares parameters itself; they must match what SQLAlchemy binds."""

from datetime import datetime

from sqlalchemy import insert, select

from audience.db import Database
from audience.events.queries import insert_events
from audience.tables import events


def test_batch_insert_stores_values_as_sqlalchemy_does(db: Database) -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, 89000)
    zero = datetime(2026, 3, 4, 5, 6, 8)
    row = {
        "person_id": "p",
        "push_registration_id": "i",
        "definition_id": "d",
        "occurred_at": at,
        "received_at": zero,
        "event_id": None,
        "properties": {"text": 'žlutý kůň "quoted"', "n": 1.5, "b": True},
    }
    with db.write() as conn:
        conn.execute(insert(events), [row | {"event_id": "core"}])
        insert_events(conn, [row | {"event_id": "driver"}])
    with db.read() as conn:
        same_time = conn.execute(
            select(events.c.event_id, events.c.properties, events.c.received_at).where(
                events.c.occurred_at == at, events.c.received_at == zero
            )
        ).all()
        later = conn.execute(
            select(events.c.event_id).where(events.c.occurred_at > at).order_by(events.c.id)
        ).all()
    assert sorted(r.event_id for r in same_time) == ["core", "driver"]
    assert all(r.properties == row["properties"] for r in same_time)
    assert all(r.received_at == zero for r in same_time)
    assert later == []
